/**
 * The runbook's clock in the lab, end to end (issue 7 acceptance): alerts go into the lab's real
 * Alertmanager, which notifies the lab's bot; the bot talks to the lab's Slack and PagerDuty
 * stand-ins. The bot runs with the clock shortened to seconds (ESCALATION_MATRIX), then is put back
 * as the lab runs it.
 * - SEV-1 not acknowledged → the thread mentions the on-call, then the Senior SRE, … at the
 *   configured times, and PagerDuty is escalated level by level;
 * - acknowledged in PagerDuty → Slack shows it and the acknowledge timers stop;
 * - acknowledged in Slack → PagerDuty shows it acknowledged by that person.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, readPidFile } from '../../lab/process.js';
import { eventually, isTopLevel } from '../support/bot.js';
import { lab } from '../support/lab.js';
import { acknowledgeInPagerDuty } from '../support/pagerduty.js';
import { channelMessages, clickAction, type SlackMessage, threadReplies } from '../support/slack.js';

const run = randomBytes(3).toString('hex');
const NAMES = {
  unacknowledged: `ClockProbe${run}Quiet`,
  ackInPagerDuty: `ClockProbe${run}PdAck`,
  ackInSlack: `ClockProbe${run}SlackAck`,
};
// Seconds: reminder 15 s, acknowledge escalation 21 s, matrix steps at 27 s and 33 s.
const SHORT_CLOCK = {
  levels: {
    'on-call': { slackGroups: ['S0ONCALL01'] },
    'senior-sre': { slackGroups: ['S0SRE00001'] },
    'dev-lead': { slackGroups: ['S0DEVLEAD1'] },
    cto: { slackGroups: ['S0MANAGER1'] },
  },
  ack: { reminderMinutes: 0.25, escalationMinutes: 0.35 },
  severities: {
    'SEV-1': {
      steps: [
        { after: 0.45, levels: ['senior-sre', 'dev-lead'] },
        { after: 0.55, levels: ['cto'] },
      ],
    },
  },
  maintenance: { enabled: false },
};
const ALERTS = 'qnwis-alerts';
const urls = () => lab.standInUrls();

async function toAlertmanager(alertname: string, startsAt: string, endsAt?: string): Promise<void> {
  const res = await fetch(`http://${lab.alertmanagerListen}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        labels: { alertname, service: 'qnwis', probe: run },
        annotations: { summary: `clock probe ${alertname}` },
        startsAt,
        ...(endsAt ? { endsAt } : {}),
        generatorURL: 'http://127.0.0.1:9090/graph?g0.expr=vector(1)',
      },
    ]),
  });
  expect(res.status).toBe(200);
}

async function stopLabBot(): Promise<void> {
  const pid = readPidFile(lab.daemonFiles('bot').pidFile);
  if (pid && isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    await eventually('the lab bot to stop', async () => !isAlive(pid), 20_000);
  }
}

type Message = SlackMessage;

const messages = () => channelMessages(urls().slackUrl, ALERTS);
const thread = (parent: Message) => threadReplies(urls().slackUrl, parent);

async function parentOf(alertname: string): Promise<Message> {
  return eventually(
    `the ${alertname} message`,
    async () =>
      (await messages()).find((m) => isTopLevel(m) && !m.ephemeral_user && m.text.includes(alertname)),
    30_000,
  );
}

interface PdIncident {
  id: string;
  status: string;
  assignments: { assignee: { id: string } }[];
  acknowledgements: { acknowledger: { id: string } }[];
}

async function pagerDutyIncident(alertname: string): Promise<PdIncident> {
  return eventually(
    `the ${alertname} page in PagerDuty`,
    async () => {
      const res = await fetch(
        `${urls().pagerdutyUrl}/incidents?statuses[]=triggered&statuses[]=acknowledged`,
        {
          headers: { authorization: 'Token token=e2e' },
        },
      );
      const body = (await res.json()) as { incidents: (PdIncident & { title: string })[] };
      return body.incidents.find((i) => i.title.includes(alertname));
    },
    30_000,
  );
}

async function pagerDutyNow(id: string): Promise<PdIncident> {
  const res = await fetch(`${urls().pagerdutyUrl}/incidents/${id}`, {
    headers: { authorization: 'Token token=e2e' },
  });
  return ((await res.json()) as { incident: PdIncident }).incident;
}

beforeAll(async () => {
  await lab.up();
  await stopLabBot();
  await lab.startBot({
    ESCALATION_MATRIX: JSON.stringify(SHORT_CLOCK),
    ALERT_SEVERITIES: JSON.stringify(Object.fromEntries(Object.values(NAMES).map((n) => [n, 'SEV-1']))),
  });
}, 120_000);

afterAll(async () => {
  const now = new Date().toISOString();
  for (const name of Object.values(NAMES))
    await toAlertmanager(name, new Date(Date.now() - 120_000).toISOString(), now).catch(() => undefined);
  // Back to the lab's own settings.
  await stopLabBot();
  await lab.startBot();
}, 120_000);

describe('the escalation clock in the lab', () => {
  it('SEV-1 not acknowledged: Slack mentions and PagerDuty escalations at the configured times', async () => {
    const opened = Date.now();
    await toAlertmanager(NAMES.unacknowledged, new Date(opened).toISOString());
    const parent = await parentOf(NAMES.unacknowledged);
    const pd = await pagerDutyIncident(NAMES.unacknowledged);
    const lines = await eventually(
      'reminder, acknowledge escalation and both steps in the thread',
      async () => {
        const t = await thread(parent);
        return [
          /Not acknowledged 15 s after/,
          /Not acknowledged within 21 s/,
          /SEV-1 step 1/,
          /SEV-1 step 2/,
        ].every((re) => t.some((l) => re.test(l)))
          ? t
          : null;
      },
      75_000,
    );
    const line = (re: RegExp) => lines.find((l) => re.test(l)) ?? '';
    expect(line(/Not acknowledged 15 s after/)).toContain('<!subteam^S0ONCALL01>');
    expect(line(/Not acknowledged within 21 s/)).toMatch(
      /Senior SRE · paging PagerDuty level 2 <!subteam\^S0SRE00001>/,
    );
    expect(line(/SEV-1 step 1/)).toMatch(
      /Senior SRE \+ Dev Lead .*level 3 <!subteam\^S0SRE00001> <!subteam\^S0DEVLEAD1>/,
    );
    expect(line(/SEV-1 step 2/)).toMatch(/CTO .*level 4 <!subteam\^S0MANAGER1>/);
    // Each at its configured time (not before; the clock counts from the alert's start).
    const at = async (re: RegExp) => {
      const m = (await messages()).find((x) => x.thread_ts === parent.ts && re.test(x.text));
      return Number(m?.ts ?? 0) * 1000 - opened;
    };
    expect(await at(/Not acknowledged 15 s after/)).toBeGreaterThanOrEqual(15_000);
    expect(await at(/SEV-1 step 2/)).toBeGreaterThanOrEqual(33_000);
    expect(lines.filter((l) => /Could not escalate/.test(l))).toEqual([]);
    // PagerDuty followed: the CTO level's person is assigned now.
    await eventually('PagerDuty at level 4', async () =>
      (await pagerDutyNow(pd.id)).assignments.some((a) => a.assignee.id === 'PL4MGMT'),
    );
  }, 120_000);

  it('acknowledged in PagerDuty: Slack shows it and the acknowledge timers stop', async () => {
    const opened = Date.now();
    await toAlertmanager(NAMES.ackInPagerDuty, new Date(opened).toISOString());
    const parent = await parentOf(NAMES.ackInPagerDuty);
    const pd = await pagerDutyIncident(NAMES.ackInPagerDuty);
    await acknowledgeInPagerDuty(urls().pagerdutyUrl, pd.id);
    expect(Date.now() - opened).toBeLessThan(15_000);
    await eventually(
      'the acknowledgement in the thread',
      async () =>
        (await thread(parent)).some((l) => /Acknowledged in PagerDuty by Lab On-call Engineer/.test(l)),
      30_000,
    );
    await eventually(
      'the message shows it',
      async () => (await messages()).find((m) => m.ts === parent.ts)?.text.includes('ACKNOWLEDGED'),
      30_000,
    );
    // Past both acknowledge marks: neither says anything; the matrix's first step still runs.
    const t = await eventually(
      'the SEV-1 step 1 escalation',
      async () => {
        const lines = await thread(parent);
        return lines.some((l) => /SEV-1 step 1/.test(l)) ? lines : null;
      },
      60_000,
    );
    expect(t.filter((l) => /Not acknowledged/.test(l))).toEqual([]);
  }, 120_000);

  it('acknowledged in Slack: PagerDuty shows it acknowledged by that person', async () => {
    await toAlertmanager(NAMES.ackInSlack, new Date().toISOString());
    const parent = await parentOf(NAMES.ackInSlack);
    const pd = await pagerDutyIncident(NAMES.ackInSlack);
    await clickAction(urls().slackUrl, {
      user: 'U0ONCALL01',
      channel: ALERTS,
      message: parent,
      actionId: 'incident.ack',
    });
    const acked = await eventually('acknowledged in PagerDuty', async () => {
      const i = await pagerDutyNow(pd.id);
      return i.status === 'acknowledged' ? i : null;
    });
    expect(acked.acknowledgements.map((a) => a.acknowledger.id)).toEqual(['PL1ONCL']);
    // The channel is busy (the other probes' threads; Slack allows about one post a second).
    await eventually(
      'Slack shows who',
      async () => (await thread(parent)).some((l) => l === '👀 Acknowledged in Slack by Omar Haddad'),
      30_000,
    );
  }, 60_000);
});
