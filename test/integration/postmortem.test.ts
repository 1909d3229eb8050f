/**
 * The post-mortem draft (issue 7, item 5) through the real bot and the lab: a HighErrorRate alert on
 * app-03 comes in through the Alertmanager webhook (SEV-2, paged in the PagerDuty stand-in) → the
 * playbook diagnoses it on the real host → the on-call acknowledges in PagerDuty → a click on the
 * proposed "Restart qnwis on app-03" requests it → an L2 approves → the worker restarts qnwis for
 * real → the alert resolves. The draft posted into the incident's thread contains each of those
 * events with its actor and UTC time; posting again changes nothing; `/qnwis postmortem KEY`
 * answers with the same draft as a file.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebClient, SlackChatClient } from '../../src/bot/chat.js';
import { utcStamp } from '../../src/incidents/postmortem.js';
import { POSTMORTEM_DRAFTED, postPostmortem } from '../../src/jobs/postmortem.js';
import { silentLogger } from '../../src/observability/logger.js';
import {
  eventually,
  notification,
  postAlertmanager,
  type SlackMessageView,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { clickAction } from '../support/slack.js';

const ONCALL = 'U0ONCALL01'; // L1
const SRE = 'U0SRE00001'; // L2

let bot: TestBot;

beforeAll(async () => {
  bot = await startTestBot({ fleet: true });
}, 60_000);

afterAll(async () => {
  await bot?.stop();
});

interface Message extends SlackMessageView {
  files?: { id: string; name: string }[];
  ephemeral_user?: string;
}

async function messages(channel: string): Promise<Message[]> {
  const res = await fetch(`${bot.slack.url}/_local/messages?channel=${channel}&include_ephemeral=1`);
  return (await res.json()) as Message[];
}

const click = (user: string, message: Message, actionId: string, channel: string) =>
  clickAction(bot.slack.url, { user, channel, message, actionId });

async function fileText(id: string, name: string): Promise<string> {
  const res = await fetch(`${bot.slack.url}/files/${id}/${encodeURIComponent(name)}`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The draft's timeline row whose event contains `text`: [time, actor, event]. */
function timelineRow(md: string, text: string): string[] {
  const section = md.slice(md.indexOf('## Timeline'), md.indexOf('## Alerts'));
  const line = section.split('\n').find((l) => l.startsWith('| ') && l.includes(text));
  if (!line) throw new Error(`no timeline row with "${text}" in:\n${section}`);
  return line
    .slice(2, -2)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

async function eventAt(incidentId: number, kind: string): Promise<string> {
  const res = await bot.db.query(
    'SELECT at FROM incident_events WHERE incident_id = $1 AND kind = $2 ORDER BY id LIMIT 1',
    [incidentId, kind],
  );
  const at = res.rows[0]?.at as Date | undefined;
  if (!at) throw new Error(`no ${kind} event`);
  return utcStamp(at);
}

async function trailAt(requestId: string, kind: string): Promise<string> {
  const res = await bot.db.query(
    'SELECT at FROM audit_trail WHERE request_id = $1 AND kind = $2 ORDER BY id LIMIT 1',
    [requestId, kind],
  );
  return utcStamp(res.rows[0]?.at as Date);
}

describe('diagnose → acknowledge → approved restart → resolve → post-mortem draft', () => {
  let incident: { id: number; key: string; channel: string; ts: string };
  let requestId: string;
  let draft: string;
  const fingerprint = `pm${Date.now().toString(16)}`;
  const startsAt = new Date().toISOString();
  const alert = (status: 'firing' | 'resolved') =>
    notification('HighErrorRate', {
      status,
      labels: { host: 'app-03', severity: 'critical', service: 'qnwis' },
      startsAt,
      fingerprint,
    });

  it('the incident is diagnosed, acknowledged in PagerDuty, restarted with an L2 approval and resolved', async () => {
    expect((await postAlertmanager(bot, alert('firing'))).status).toBe(200);
    const found = await eventually(
      'the incident message with its proposed fix',
      async () => {
        const row = (
          await bot.db.query(
            `SELECT id, key, slack_channel_id, slack_ts FROM incidents WHERE alertname = 'HighErrorRate' AND slack_ts IS NOT NULL`,
          )
        ).rows[0] as { id: string; key: string; slack_channel_id: string; slack_ts: string } | undefined;
        if (!row) return undefined;
        const m = (await messages(row.slack_channel_id)).find((x) => x.ts === row.slack_ts);
        return m && JSON.stringify(m.blocks).includes('Restart qnwis on app-03') ? { row, m } : undefined;
      },
      60_000,
    );
    incident = {
      id: Number(found.row.id),
      key: found.row.key,
      channel: found.row.slack_channel_id,
      ts: found.row.slack_ts,
    };

    // The on-call acknowledges "from the phone": the stand-in's signed webhook reaches the bot.
    const pd = await eventually('the PagerDuty incident', async () => {
      const res = await fetch(`${bot.pagerduty.url}/_local/incidents`);
      const all = (await res.json()) as { id: string; status: string; incident_key?: string }[];
      return all.find((i) => i.incident_key === incident.key && i.status === 'triggered');
    });
    const ack = await fetch(`${bot.pagerduty.url}/_local/incidents/${pd.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'oncall@qnwis.lab' }),
    });
    expect(ack.status).toBeLessThan(300);
    await eventually('the acknowledgement', async () => {
      const r = await bot.db.query('SELECT status FROM incidents WHERE id = $1', [incident.id]);
      return r.rows[0]?.status === 'acknowledged';
    });

    const proposeId = (found.m.blocks as { elements?: { action_id: string; text?: { text: string } }[] }[])
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.text?.text === 'Restart qnwis on app-03')?.action_id;
    await click(ONCALL, found.m, proposeId ?? 'missing', incident.channel);
    const approval = await eventually('the approval message in the thread', async () => {
      const r = (await bot.db.query('SELECT id FROM command_requests WHERE incident_id = $1', [incident.id]))
        .rows[0] as { id: string } | undefined;
      if (!r) return undefined;
      const m = (await messages(incident.channel)).find(
        (x) => !x.ephemeral_user && JSON.stringify(x.blocks ?? []).includes(`Request ${r.id}`),
      );
      return m ? { id: r.id, m } : undefined;
    });
    requestId = approval.id;
    await click(SRE, approval.m, 'request.approve', incident.channel);
    const state = await eventually(
      'the restart to finish',
      async () => {
        const r = await bot.db.query('SELECT state FROM command_requests WHERE id = $1', [requestId]);
        const s = r.rows[0]?.state as string;
        return ['succeeded', 'failed', 'refused', 'interrupted'].includes(s) ? s : undefined;
      },
      90_000,
    );
    expect(state).toBe('succeeded');

    expect((await postAlertmanager(bot, alert('resolved'))).status).toBe(200);
    await eventually('the resolution', async () => {
      const r = await bot.db.query('SELECT status FROM incidents WHERE id = $1', [incident.id]);
      return r.rows[0]?.status === 'resolved';
    });
  }, 180_000);

  it('the draft is posted as a Markdown file in the incident thread', async () => {
    const chat = new SlackChatClient(createWebClient('xoxb-postmortem-test', bot.slack.apiUrl));
    const outcome = await postPostmortem({ store: bot.running.store, chat, log: silentLogger }, incident.id);
    expect(outcome).toMatchObject({ posted: true, filename: `${incident.key}-postmortem-draft.md` });
    const shared = await eventually('the file in the thread', async () =>
      (await messages(incident.channel)).find(
        (m) =>
          m.thread_ts === incident.ts && (m.files ?? []).some((f) => f.name.endsWith('-postmortem-draft.md')),
      ),
    );
    expect(shared.text).toContain(`Post-mortem draft for ${incident.key}`);
    const file = shared.files?.[0] as { id: string; name: string };
    draft = await fileText(file.id, file.name);
    expect(draft.startsWith(`# Post-mortem (draft): ${incident.key} · SEV-2 HighErrorRate`)).toBe(true);
  });

  it('contains the alert, the diagnosis, the acknowledgement, the restart with requester, approver and result, and the resolve, each with actor and UTC time', async () => {
    expect(timelineRow(draft, 'Alert HighErrorRate firing on app-03')).toEqual([
      await eventAt(incident.id, 'alert_firing'),
      'Alertmanager',
      expect.stringContaining('Alert HighErrorRate firing on app-03'),
    ]);

    const diagnosed = timelineRow(draft, 'Diagnosed by playbook');
    expect(diagnosed[0]).toBe(await eventAt(incident.id, 'diagnosed'));
    expect(diagnosed[1]).toBe('qnwis-chatops (playbook)');
    const verdict = (
      await bot.db.query('SELECT diagnosis_verdict FROM incidents WHERE id = $1', [incident.id])
    ).rows[0]?.diagnosis_verdict as string;
    expect(verdict).toBeTruthy();
    expect(draft).toContain('## Diagnosis');
    expect(draft).toContain('**Verdict:** ');

    expect(timelineRow(draft, 'Acknowledged')).toEqual([
      await eventAt(incident.id, 'acknowledged'),
      'Lab On-call Engineer',
      'Acknowledged (via pagerduty)',
    ]);

    const requested = timelineRow(draft, 'Requested');
    expect(requested[0]).toBe(await trailAt(requestId, 'request'));
    expect(requested[1]).toMatch(/\(U0ONCALL01, L1\)$/);
    expect(requested[2]).toBe(`Requested \`restart app-03\` (${requestId})`);
    const approved = timelineRow(draft, 'Approved');
    expect(approved[0]).toBe(await trailAt(requestId, 'approval'));
    expect(approved[1]).toMatch(/\(U0SRE00001, L2\)$/);
    const finished = timelineRow(draft, 'Finished');
    expect(finished[0]).toBe(await trailAt(requestId, 'result'));
    expect(finished[1]).toBe('qnwis-chatops (worker)');
    expect(finished[2]).toContain('succeeded');
    expect(draft).toMatch(
      /\| Approved by \| [^|]*\(U0SRE00001, L2\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|/,
    );
    expect(draft).toContain('| Verification | ✅ passed');

    expect(timelineRow(draft, 'Incident resolved')).toEqual([
      await eventAt(incident.id, 'resolved'),
      'Alertmanager',
      'Incident resolved: every alert resolved in Alertmanager',
    ]);
    // The clock: every stage reached within the runbook's targets in this run.
    for (const stage of ['Acknowledge', 'Diagnose', 'Mitigate', 'Resolve'])
      expect(draft).toMatch(new RegExp(`\\| ${stage} \\| [^\\n]*\\| ✅ met \\|`));
  });

  it('is posted once per resolution: a second run changes nothing', async () => {
    const chat = new SlackChatClient(createWebClient('xoxb-postmortem-test', bot.slack.apiUrl));
    const again = await postPostmortem({ store: bot.running.store, chat, log: silentLogger }, incident.id);
    expect(again).toEqual({ posted: false, reason: 'already-posted' });
    const drafts = (await messages(incident.channel)).filter((m) =>
      (m.files ?? []).some((f) => f.name.endsWith('-postmortem-draft.md')),
    );
    expect(drafts).toHaveLength(1);
    const drafted = await bot.db.query(
      'SELECT count(*)::int AS n FROM incident_events WHERE incident_id = $1 AND kind = $2',
      [incident.id, POSTMORTEM_DRAFTED],
    );
    expect(drafted.rows[0].n).toBe(1);
  });

  it('/qnwis postmortem KEY shares the same draft as a file in the channel it was asked in', async () => {
    const channel = 'C0QNWISOPS';
    const res = await fetch(`${bot.slack.url}/_local/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: ONCALL, channel, command: '/qnwis', text: `postmortem ${incident.key}` }),
    });
    expect(res.status).toBe(200);
    const shared = await eventually('the file in the channel', async () =>
      (await messages(channel)).find((m) =>
        (m.files ?? []).some((f) => f.name === `${incident.key}-postmortem-draft.md`),
      ),
    );
    expect(shared.text).toContain(`<@${ONCALL}>`);
    const file = shared.files?.[0] as { id: string; name: string };
    const text = await fileText(file.id, file.name);
    // Drafted later: what was recorded by then is there, and more may have been since (the draft
    // posted, PagerDuty's resolve arriving).
    const rows = (md: string) =>
      md
        .slice(md.indexOf('## Timeline'), md.indexOf('## Alerts'))
        .split('\n')
        .filter((l) => /^\| \d{4}-/.test(l));
    expect(rows(draft).length).toBeGreaterThan(8);
    expect(rows(text)).toEqual(expect.arrayContaining(rows(draft)));
    expect(text).toContain('Post-mortem draft posted in the thread');
    await eventually('the confirmation to the asker', async () =>
      (await messages(channel)).find(
        (m) => m.ephemeral_user === ONCALL && m.text.includes('post-mortem draft'),
      ),
    );
  });

  it('/qnwis postmortem KEY --link URL records the written post-mortem: thread told, 48-h reminder gone', async () => {
    const redis = new Redis('redis://127.0.0.1:6379/0');
    const queue = new Queue('escalations', { connection: redis, prefix: bot.prefix });
    try {
      const reminder = async () => {
        for (const job of await queue.getDelayed())
          if (job.id?.startsWith(`timer-${incident.id}-`) && job.id.includes('-postmortem-')) return job;
        return undefined;
      };
      await eventually('the 48-h post-mortem reminder waiting', reminder);
      const url = 'https://wiki.example/postmortems/highErrorRate-app-03';
      await fetch(`${bot.slack.url}/_local/command`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          user: SRE,
          channel: 'C0QNWISOPS',
          command: '/qnwis',
          text: `postmortem ${incident.key} --link ${url}`,
        }),
      });
      await eventually('the confirmation', async () =>
        (await messages('C0QNWISOPS')).find((m) =>
          JSON.stringify(m.blocks ?? []).includes('48-hour reminder is off'),
        ),
      );
      const row = await bot.db.query(
        'SELECT postmortem_url, postmortem_linked_at FROM incidents WHERE id = $1',
        [incident.id],
      );
      expect(row.rows[0]?.postmortem_url).toBe(url);
      expect(row.rows[0]?.postmortem_linked_at).toBeInstanceOf(Date);
      await eventually('the reminder removed from the queue', async () => !(await reminder()));
      const audited = await bot.db.query(
        "SELECT actor_id, summary FROM audit_trail WHERE kind = 'incident-action' AND incident_id = $1",
        [incident.id],
      );
      expect(audited.rows).toEqual([
        { actor_id: SRE, summary: `linked ${incident.key}'s post-mortem: ${url}` },
      ]);
      await eventually('the link told in the thread', async () =>
        (await messages(incident.channel)).some(
          (m) =>
            m.thread_ts === incident.ts &&
            m.text.includes(`Post-mortem linked by <@${SRE}>`) &&
            m.text.includes(url),
        ),
      );
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });

  it('a --link that is not an http(s) URL is refused with the usage', async () => {
    const res = await fetch(`${bot.slack.url}/_local/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user: SRE,
        channel: 'C0QNWISOPS',
        command: '/qnwis',
        text: `postmortem ${incident.key} --link javascript:alert(1)`,
      }),
    });
    const body = (await res.json()) as { body: { text?: string; blocks?: unknown[] } | null };
    expect(JSON.stringify(body.body)).toContain('--link must be an http(s) URL');
  });

  it('/qnwis postmortem of an unknown incident says so', async () => {
    await fetch(`${bot.slack.url}/_local/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user: ONCALL,
        channel: 'C0QNWISOPS',
        command: '/qnwis',
        text: 'postmortem QNWIS-999999',
      }),
    });
    await eventually('the not-found answer', async () =>
      (await messages('C0QNWISOPS')).find((m) =>
        JSON.stringify(m.blocks ?? []).includes('There is no incident *QNWIS-999999*'),
      ),
    );
  });
});
