/**
 * The runbook's clock, durable, through the real bot (BullMQ on the machine's Redis, Postgres) with
 * its Slack and PagerDuty stand-ins, at a shortened configured clock (seconds instead of minutes):
 * - timers survive a restart of every bot process and fire once with two replicas running: each
 *   reminder and escalation appears in the thread exactly once, with its mentions, and PagerDuty
 *   is escalated to the matrix's levels;
 * - acknowledging (here in PagerDuty) removes the acknowledge timers from the queue and nothing of
 *   them is said, while the matrix's escalation still runs.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  eventually,
  isTopLevel,
  notification,
  postAlertmanager,
  type SlackMessageView,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { acknowledgeInPagerDuty } from '../support/pagerduty.js';
import { threadReplies } from '../support/slack.js';

const DB_CHANNEL = 'C0QNWISDB1';
// Seconds, not minutes: reminder 3 s, acknowledge escalation 6 s, steps at 9 s and 12 s.
const SHORT_CLOCK = JSON.stringify({
  levels: {
    'on-call': { slackGroups: ['S0ONCALL01'] },
    'senior-sre': { slackGroups: ['S0SRE00001'] },
    'dev-lead': { slackUsers: ['U0DEVLEAD1'] },
    cto: { slackGroups: ['S0MANAGER1'] },
  },
  ack: { reminderMinutes: 0.05, escalationMinutes: 0.1 },
  severities: {
    'SEV-1': {
      steps: [
        { after: 0.15, levels: ['senior-sre', 'dev-lead'] },
        { after: 0.2, levels: ['cto'] },
      ],
    },
    'SEV-2': {
      steps: [
        { after: 0.15, levels: ['senior-sre'] },
        { after: 0.2, levels: ['dev-lead'] },
      ],
    },
  },
  lifecycle: { diagnoseMinutes: 60, mitigateMinutes: 60, resolveMinutes: 240 },
  // Never in a maintenance window while the test runs, whatever the date.
  maintenance: { enabled: false },
});

let bot: TestBot | undefined;
const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await bot?.stop();
  bot = undefined;
});

const thread = (b: TestBot, parent: SlackMessageView) => threadReplies(b.slack.url, parent);

async function incidentMessage(b: TestBot, channel: string, alertname: string): Promise<SlackMessageView> {
  return eventually(
    `the ${alertname} incident message`,
    async () => (await slackMessages(b, channel)).find((m) => isTopLevel(m) && m.text.includes(alertname)),
    20_000,
  );
}

function pdIncidentFor(b: TestBot, key: string) {
  return b.pagerduty.store.allIncidents().find((i) => i.incidentKey === key);
}

async function incidentKey(b: TestBot, alertname: string): Promise<string> {
  const res = await b.db.query('SELECT key FROM incidents WHERE alertname = $1', [alertname]);
  return res.rows[0]?.key as string;
}

describe('escalation timers (durable, once, cancelled by acknowledgement)', () => {
  it('survive a restart of every bot process and fire once with two replicas: thread mentions and PagerDuty levels', async () => {
    bot = await startTestBot({ env: { ESCALATION_MATRIX: SHORT_CLOCK } });
    const replica = await bot.replica();
    stops.push(() => replica.stop());
    const opened = new Date();
    expect(
      (
        await postAlertmanager(
          bot,
          notification('DatabaseDown', {
            labels: { host: 'db-primary', service: 'postgres', severity: 'critical' },
            startsAt: opened.toISOString(),
          }),
        )
      ).status,
    ).toBe(200);
    const parent = await incidentMessage(bot, DB_CHANNEL, 'DatabaseDown');
    // The message names who answers first, mentioning them (a notification), …
    expect(JSON.stringify(parent.blocks)).toContain('answers: On-call engineer <!subteam^S0ONCALL01>');
    // … and says what the clock will do next, at a UTC time.
    expect(JSON.stringify(parent.blocks)).toMatch(/reminds On-call engineer to acknowledge at \d\d:\d\d UTC/);
    const key = await incidentKey(bot, 'DatabaseDown');
    await eventually('the page in PagerDuty', async () => pdIncidentFor(bot as TestBot, key));

    // Every process goes away with timers pending; one is due while nobody runs.
    await replica.stop();
    stops.length = 0;
    const b = bot;
    await b.restart(4_000);
    const second = await b.replica();
    stops.push(() => second.stop());

    const lines = await eventually(
      'the reminder, the acknowledge escalation and both matrix steps in the thread',
      async () => {
        const t = await thread(b, parent);
        const want = [
          /Not acknowledged 3 s after/,
          /Not acknowledged within 6 s/,
          /SEV-1 step 1/,
          /SEV-1 step 2/,
        ];
        return want.every((re) => t.some((l) => re.test(l))) ? t : null;
      },
      40_000,
    );
    // Give a duplicate every chance to show, then count.
    await new Promise((r) => setTimeout(r, 3_000));
    const t = await thread(b, parent);
    const count = (re: RegExp) => t.filter((l) => re.test(l)).length;
    expect(count(/Not acknowledged 3 s after/)).toBe(1);
    expect(count(/Not acknowledged within 6 s/)).toBe(1);
    expect(count(/SEV-1 step 1/)).toBe(1);
    expect(count(/SEV-1 step 2/)).toBe(1);
    const reminder = lines.find((l) => /Not acknowledged 3 s after/.test(l)) ?? '';
    expect(reminder).toContain('<!subteam^S0ONCALL01>');
    const step1 = t.find((l) => /SEV-1 step 1/.test(l)) ?? '';
    expect(step1).toContain('Senior SRE + Dev Lead');
    expect(step1).toContain('<!subteam^S0SRE00001>');
    expect(step1).toContain('<@U0DEVLEAD1>');
    expect(step1).toContain('paging PagerDuty level 3');
    expect(t.find((l) => /SEV-1 step 2/.test(l))).toContain('<!subteam^S0MANAGER1>');

    const fired = await b.db.query(
      'SELECT kind, count(*)::int AS n FROM escalation_timers_fired GROUP BY kind ORDER BY kind',
    );
    expect(fired.rows).toEqual([
      { kind: 'ack-escalation', n: 1 },
      { kind: 'ack-reminder', n: 1 },
      { kind: 'escalation', n: 2 },
    ]);
    // PagerDuty followed the matrix: the CTO's level (4) is where the incident is now.
    const pd = await eventually('PagerDuty at level 4', async () => {
      const i = pdIncidentFor(b, key);
      return i && i.escalationLevel === 4 ? i : null;
    });
    expect(pd.assignments.map((a) => a.userId)).toEqual([b.pagerduty.ids.users.manager]);
    // And its webhook came back into the thread, confirming it.
    await eventually('PagerDuty’s escalation told in the thread', async () =>
      (await thread(b, parent)).some((l) => /Escalated in PagerDuty by QNWIS ChatOps Bot/.test(l)),
    );
  }, 120_000);

  it('acknowledging in PagerDuty removes the acknowledge timers; the matrix still escalates', async () => {
    bot = await startTestBot({ env: { ESCALATION_MATRIX: SHORT_CLOCK } });
    const b = bot;
    const opened = new Date();
    await postAlertmanager(
      b,
      notification('HighErrorRate', {
        labels: { service: 'qnwis-api', severity: 'critical' },
        startsAt: opened.toISOString(),
      }),
    );
    const rows = await eventually('the incident', async () => {
      const r = await b.db.query(
        "SELECT id, key, severity, channel FROM incidents WHERE alertname = 'HighErrorRate'",
      );
      return r.rows[0] as { id: number; key: string; severity: string; channel: string } | undefined;
    });
    expect(rows.severity).toBe('SEV-2');
    const pd = await eventually('the page in PagerDuty', async () => pdIncidentFor(b, rows.key));
    const redis = new Redis('redis://127.0.0.1:6379/0');
    const queue = new Queue('escalations', { connection: redis, prefix: b.prefix });
    try {
      const ackTimer = `timer-${rows.id}-${opened.getTime()}-ack-reminder`;
      await eventually('the acknowledge reminder waiting in the queue', async () => {
        const job = await queue.getJob(ackTimer);
        return job && (await job.isDelayed());
      });
      await acknowledgeInPagerDuty(b.pagerduty.url, pd.id);
      await eventually('the acknowledge timers gone from the queue', async () => {
        const a = await queue.getJob(ackTimer);
        const e = await queue.getJob(`timer-${rows.id}-${opened.getTime()}-ack-escalation`);
        return !a && !e;
      });
      const parent = await incidentMessage(b, rows.channel, 'HighErrorRate');
      // Past both acknowledge marks and the first matrix step.
      const t = await eventually(
        'the SEV-2 step 1 escalation',
        async () => {
          const lines = await thread(b, parent);
          return lines.some((l) => /SEV-2 step 1/.test(l)) ? lines : null;
        },
        30_000,
      );
      expect(t.some((l) => /Acknowledged in PagerDuty by Lab On-call Engineer/.test(l))).toBe(true);
      expect(t.filter((l) => /Not acknowledged/.test(l))).toEqual([]);
      const fired = await b.db.query('SELECT kind FROM escalation_timers_fired ORDER BY fired_at');
      expect(fired.rows.map((r) => r.kind)).not.toContain('ack-reminder');
      expect(fired.rows.map((r) => r.kind)).not.toContain('ack-escalation');
    } finally {
      await queue.close();
      redis.disconnect();
    }
  }, 90_000);
});
