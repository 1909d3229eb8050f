/**
 * The on-call's controls under an incident, through the real bot (Bolt, BullMQ, Postgres) with its
 * Slack and PagerDuty stand-ins: Acknowledge from Slack reaches PagerDuty as the person who
 * clicked (From = their Slack e-mail); someone without a PagerDuty account is told so and nothing
 * changes on either side; Escalate now, Snooze, Reassign and Resolve (with its note, in a modal)
 * each change PagerDuty and Slack together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../src/store/audit-trail.js';
import {
  eventually,
  isTopLevel,
  notification,
  postAlertmanager,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { channelMessages, clickAction, type SlackMessage, threadReplies } from '../support/slack.js';

const DB = 'C0QNWISDB1';
const ONCALL = 'U0ONCALL01';
const SRE = 'U0SRE00001';
const DEVLEAD = 'U0DEVLEAD1';
const OUTSIDER = 'U0OUTSIDE1';

let bot: TestBot;

beforeAll(async () => {
  bot = await startTestBot({
    env: {
      // The outsider is on the rota here but has no PagerDuty account.
      SLACK_ROLES: JSON.stringify({
        [ONCALL]: 'L1',
        [SRE]: 'L2',
        [DEVLEAD]: 'L3',
        U0MANAGER1: 'L4',
        [OUTSIDER]: 'L1',
      }),
      ESCALATION_MATRIX: JSON.stringify({
        levels: { 'on-call': { slackGroups: ['S0ONCALL01'] }, 'senior-sre': { slackGroups: ['S0SRE00001'] } },
        maintenance: { enabled: false },
      }),
    },
  });
}, 60_000);

afterAll(async () => {
  await bot?.stop();
});

type Message = SlackMessage;

const messages = (channel = DB) => channelMessages(bot.slack.url, channel);

async function parentOf(alertname: string): Promise<Message> {
  return eventually(
    `the ${alertname} message`,
    async () =>
      (await messages()).find((m) => isTopLevel(m) && !m.ephemeral_user && m.text.includes(alertname)),
    20_000,
  );
}

/** The message as it is now (it is updated in place). */
async function current(parent: Message): Promise<Message> {
  const m = (await messages()).find((x) => x.ts === parent.ts);
  if (!m) throw new Error('message gone');
  return m;
}

const thread = (parent: Message) => threadReplies(bot.slack.url, parent);

const click = (user: string, message: Message, actionId: string, value?: string) =>
  clickAction(bot.slack.url, { user, channel: DB, message, actionId, ...(value ? { value } : {}) });

async function lastEphemeral(user: string, after: number): Promise<string> {
  return eventually(`an answer to ${user}`, async () => {
    const mine = (await messages()).filter((m) => m.ephemeral_user === user);
    return mine.length > after ? mine.at(-1)?.text : null;
  });
}

const ephemeralCount = async (user: string) =>
  (await messages()).filter((m) => m.ephemeral_user === user).length;

function pd(key: string) {
  return bot.pagerduty.store.allIncidents().find((i) => i.incidentKey === key);
}

async function openIncident(alertname: string, host: string) {
  await postAlertmanager(
    bot,
    notification(alertname, {
      labels: { host, service: 'postgres', severity: 'critical' },
      startsAt: new Date().toISOString(),
      groupKey: `{}:{alertname="${alertname}",host="${host}"}`,
    }),
  );
  const parent = await parentOf(alertname);
  const key = (await bot.db.query('SELECT key FROM incidents WHERE alertname = $1', [alertname])).rows[0]
    ?.key as string;
  const paged = await eventually('the page in PagerDuty', async () => pd(key));
  return { parent, key, paged };
}

describe('incident controls', () => {
  it('a person without a PagerDuty account is told so; nothing changes anywhere', async () => {
    const { parent, key } = await openIncident('DatabaseDown', 'db-primary');
    const before = await ephemeralCount(OUTSIDER);
    await click(OUTSIDER, parent, 'incident.ack');
    expect(await lastEphemeral(OUTSIDER, before)).toMatch(
      /outsider@qnwis\.lab\) have no PagerDuty account.*Nothing was changed/,
    );
    expect(pd(key)?.status).toBe('triggered');
    const row = await bot.db.query('SELECT status FROM incidents WHERE key = $1', [key]);
    expect(row.rows[0]?.status).toBe('firing');
  }, 60_000);

  it('Acknowledge in Slack acknowledges in PagerDuty as that person, once in the thread', async () => {
    const parent = await parentOf('DatabaseDown');
    const key = (await bot.db.query("SELECT key FROM incidents WHERE alertname = 'DatabaseDown'")).rows[0]
      ?.key as string;
    const before = await ephemeralCount(ONCALL);
    await click(ONCALL, parent, 'incident.ack');
    expect(await lastEphemeral(ONCALL, before)).toMatch(/^Acknowledged .* \(and in PagerDuty\)/);
    const incident = pd(key);
    expect(incident?.status).toBe('acknowledged');
    expect(incident?.acknowledgements.map((a) => a.by)).toEqual([
      expect.objectContaining({ kind: 'user', userId: bot.pagerduty.ids.users.oncall }),
    ]);
    await eventually('the message shows who acknowledged', async () =>
      (await current(parent)).text.includes('ACKNOWLEDGED'),
    );
    expect(JSON.stringify((await current(parent)).blocks)).toContain('ACKNOWLEDGED* by Omar Haddad');
    // PagerDuty's webhook about the same acknowledgement comes back; the thread says it once.
    await eventually('the acknowledgement in the thread', async () =>
      (await thread(parent)).some((l) => /Acknowledged in/.test(l)),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect((await thread(parent)).filter((l) => /Acknowledged in/.test(l))).toEqual([
      '👀 Acknowledged in Slack by Omar Haddad',
    ]);
  }, 60_000);

  it('Snooze, Escalate now and Reassign change PagerDuty and the thread together', async () => {
    const parent = await parentOf('DatabaseDown');
    const key = (await bot.db.query("SELECT key FROM incidents WHERE alertname = 'DatabaseDown'")).rows[0]
      ?.key as string;

    let before = await ephemeralCount(ONCALL);
    await click(ONCALL, parent, 'incident.snooze', '30');
    expect(await lastEphemeral(ONCALL, before)).toMatch(
      /reminders snoozed until \d\d:\d\d UTC; escalations go on/,
    );
    await eventually('the snooze in the thread', async () =>
      (await thread(parent)).some((l) => /Reminders snoozed until .* by Omar Haddad/.test(l)),
    );

    before = await ephemeralCount(SRE);
    await click(SRE, parent, 'incident.escalate');
    expect(await lastEphemeral(SRE, before)).toMatch(/Escalated .* to Senior SRE \(PagerDuty level 2\)/);
    expect(pd(key)?.escalationLevel).toBe(2);
    await eventually('the escalation with its mention in the thread', async () =>
      (await thread(parent)).some(
        (l) => /Escalated now by Sara Nasser to Senior SRE/.test(l) && l.includes('<!subteam^S0SRE00001>'),
      ),
    );

    before = await ephemeralCount(SRE);
    await click(SRE, parent, 'incident.reassign', DEVLEAD);
    expect(await lastEphemeral(SRE, before)).toMatch(/now assigned to Daniel Kim in PagerDuty/);
    expect(pd(key)?.assignments.map((a) => a.userId)).toEqual([bot.pagerduty.ids.users.devlead]);
    await eventually('PagerDuty’s reassignment told in the thread', async () =>
      (await thread(parent)).some((l) =>
        /Reassigned in PagerDuty by Lab Senior SRE: Lab Development Lead/.test(l),
      ),
    );
  }, 60_000);

  it('Resolve asks for a note in a modal, then resolves in PagerDuty and Slack with it', async () => {
    const parent = await parentOf('DatabaseDown');
    const key = (await bot.db.query("SELECT key FROM incidents WHERE alertname = 'DatabaseDown'")).rows[0]
      ?.key as string;
    await click(SRE, parent, 'incident.resolve');
    const view = await eventually('the resolve dialog', async () => {
      const res = await fetch(`${bot.slack.url}/_local/views?user=${SRE}`);
      return ((await res.json()) as { id: string; view: { callback_id: string } }[]).find(
        (v) => v.view.callback_id === 'incident.resolve.submit',
      );
    });
    // Nothing changed yet (the escalation above put it back to triggered, as PagerDuty does).
    expect(pd(key)?.status).toBe('triggered');
    const res = await fetch(`${bot.slack.url}/_local/view/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user: SRE,
        view_id: view.id,
        values: { 'resolve.note': { note: 'promoted the replica; primary rebuilt' } },
      }),
    });
    expect(((await res.json()) as { status: number | null }).status).toBe(200);
    await eventually('resolved in PagerDuty', async () => pd(key)?.status === 'resolved');
    expect(pd(key)?.notes.map((n) => n.content)).toContain(
      'Resolved from Slack: promoted the replica; primary rebuilt',
    );
    await eventually('the note in the thread', async () =>
      (await thread(parent)).some(
        (l) => l === '✅ Resolved by hand by Sara Nasser: promoted the replica; primary rebuilt',
      ),
    );
    const row = await bot.db.query('SELECT status, resolve_note FROM incidents WHERE key = $1', [key]);
    expect(row.rows[0]).toEqual({
      status: 'resolved',
      resolve_note: 'promoted the replica; primary rebuilt',
    });
    // Every action and refusal is in the hash-chained audit trail, with who, their role and the incident.
    const trail = await bot.db.query(
      `SELECT kind, actor_id, actor_role, summary FROM audit_trail WHERE incident_id = (SELECT id FROM incidents WHERE key = $1) ORDER BY id`,
      [key],
    );
    expect(
      trail.rows.map((r) => [r.kind, r.actor_id, r.actor_role, String(r.summary).split(' ')[0]]),
    ).toEqual([
      ['refusal', OUTSIDER, 'L1', `${key}:`],
      ['incident-action', ONCALL, 'L1', 'acknowledged'],
      ['incident-action', ONCALL, 'L1', 'snoozed'],
      ['incident-action', SRE, 'L2', 'escalated'],
      ['incident-action', SRE, 'L2', 'reassigned'],
      ['incident-action', SRE, 'L2', 'resolved'],
    ]);
    expect(trail.rows.at(-1)?.summary).toBe(`resolved ${key} by hand: promoted the replica; primary rebuilt`);
    expect((await new AuditTrail(bot.db).verify()).ok).toBe(true);
    // The controls are gone from a resolved incident.
    await eventually(
      'controls gone',
      async () => !JSON.stringify((await current(parent)).blocks).includes('incident.ack'),
    );
  }, 60_000);
});
