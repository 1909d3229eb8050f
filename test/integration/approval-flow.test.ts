/**
 * Act with approval, end to end through the real bot (Bolt, BullMQ `commands` worker, Postgres
 * store) with the Slack stand-in and the lab: `/qnwis restart app-02` → an approval message with
 * the plan → the requester cannot approve → an L2 approves → the worker re-checks, claims, runs the
 * real `systemctl restart` with progress in the thread, verifies (a new MainPID, healthy) → the
 * approval message says done. Double clicks, a replayed interaction and a second bot replica run
 * it once; a rejected or cancelled request never runs; a pending request blocks a duplicate.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost } from '../../src/inventory.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { serviceMainPid } from '../../src/ops/host-commands.js';
import { AuditTrail } from '../../src/store/audit-trail.js';
import {
  eventually,
  notification,
  postAlertmanager,
  type SlackMessageView,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { labInventory } from '../support/lab.js';

const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01'; // L1
const SRE = 'U0SRE00001'; // L2
const DEVLEAD = 'U0DEVLEAD1'; // L3
const OUTSIDER = 'U0OUTSIDE1';

let bot: TestBot;
let ssh: SshRunner;
const inventory = labInventory();

beforeAll(async () => {
  bot = await startTestBot({ fleet: true, env: { REQUEST_SWEEP_INTERVAL_SEC: '1' } });
  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
}, 60_000);

afterAll(async () => {
  await ssh?.close();
  await bot?.stop();
});

async function slash(user: string, text: string) {
  const res = await fetch(`${bot.slack.url}/_local/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, channel: OPS, command: '/qnwis', text }),
  });
  return (await res.json()) as { status: number | null; body: { text?: string } | null };
}

interface Message extends SlackMessageView {
  ephemeral_user?: string;
}

async function messages(channel = OPS): Promise<Message[]> {
  const res = await fetch(`${bot.slack.url}/_local/messages?channel=${channel}&include_ephemeral=1`);
  return (await res.json()) as Message[];
}

/** Ephemeral answers to `user`, newest last. */
async function ephemeralTo(user: string): Promise<string[]> {
  return (await messages()).filter((m) => m.ephemeral_user === user).map((m) => m.text);
}

function approvalMessageFor(all: Message[], requestId: string): Message | undefined {
  return all.find(
    (m) => !m.ephemeral_user && JSON.stringify(m.blocks ?? []).includes(`Request ${requestId}`),
  );
}

function buttonValue(m: Message, actionId: string): string {
  const s = JSON.stringify(m.blocks);
  const el = (m.blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
    .flatMap((b) => (b.type === 'actions' ? (b.elements ?? []) : []))
    .find((e) => e.action_id === actionId);
  if (!el) throw new Error(`no ${actionId} button in ${s.slice(0, 300)}`);
  return el.value;
}

async function click(user: string, m: Message, actionId: string, channel = OPS) {
  const actions = (
    m.blocks as { type: string; block_id?: string; elements?: { action_id: string }[] }[]
  ).find((b) => b.type === 'actions' && b.elements?.some((e) => e.action_id === actionId));
  const res = await fetch(`${bot.slack.url}/_local/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      user,
      channel,
      ts: m.ts,
      action_id: actionId,
      block_id: actions?.block_id,
      value: buttonValue(m, actionId),
    }),
  });
  return (await res.json()) as { status: number | null };
}

async function requestRow(id: string) {
  const res = await bot.db.query('SELECT * FROM command_requests WHERE id = $1', [id]);
  return res.rows[0] as { state: string; steps: { stepId: string; status: string }[]; state_detail: string };
}

async function latestRequestId(): Promise<string> {
  const res = await bot.db.query('SELECT id FROM command_requests ORDER BY requested_at DESC LIMIT 1');
  return (res.rows[0] as { id: string }).id;
}

async function mainPid(host: string): Promise<number> {
  return Number((await ssh.run(getHost(inventory, host), serviceMainPid, { unit: 'qnwis' })).stdout.trim());
}

describe('restart app-02 through /qnwis with one approval', () => {
  let requestId: string;
  let approval: Message;
  let pidBefore: number;

  it('posts an approval message with the plan, the rule, who asked and the buttons', async () => {
    pidBefore = await mainPid('app-02');
    const r = await slash(ONCALL, 'restart app-02');
    expect(r.status).toBe(200);
    requestId = await eventually(
      'the request row',
      async () => (await bot.db.query('SELECT id FROM command_requests')).rows[0]?.id as string | undefined,
    );
    approval = await eventually('the approval message', async () =>
      approvalMessageFor(await messages(), requestId),
    );
    const text = JSON.stringify(approval.blocks);
    expect(text).toContain('Approval needed: restart app-02');
    expect(text).toContain('sudo systemctl restart qnwis on app-02');
    expect(text).toContain('1 of 3 app hosts');
    expect(text).toContain('1 approval by L1 or above');
    expect(text).toContain(`<@${ONCALL}> (L1)`);
    expect(text).toContain('request.approve');
    expect(text).toContain('request.reject');
    expect((await requestRow(requestId)).state).toBe('pending');
    // The requester is told privately what happens next.
    await eventually('the requester reply', async () =>
      (await ephemeralTo(ONCALL)).some((t) => t.includes(requestId) && t.includes('needs 1 approval')),
    );
  });

  it('a duplicate request for the same host is refused while the first is pending', async () => {
    await slash(DEVLEAD, 'restart app-02');
    await eventually('the refusal', async () =>
      (await ephemeralTo(DEVLEAD)).some(
        (t) => t.includes('already has an open request') && t.includes(requestId),
      ),
    );
    const n = (await bot.db.query('SELECT count(*)::int AS n FROM command_requests')).rows[0].n;
    expect(n).toBe(1);
  });

  it('the requester and an outsider cannot approve it; nothing runs', async () => {
    await click(ONCALL, approval, 'request.approve');
    await click(OUTSIDER, approval, 'request.approve');
    await eventually('both refusals', async () => {
      const mine = await ephemeralTo(ONCALL);
      const theirs = await ephemeralTo(OUTSIDER);
      return (
        mine.some((t) => t.includes('someone else must approve')) &&
        theirs.some((t) => t.includes('outsiders cannot approve'))
      );
    });
    expect((await requestRow(requestId)).state).toBe('pending');
    expect(await mainPid('app-02')).toBe(pidBefore);
  });

  it('an L2 approval (double-clicked) runs it once: progress in the thread, verified, message updated', async () => {
    await Promise.all([click(SRE, approval, 'request.approve'), click(SRE, approval, 'request.approve')]);
    const done = await eventually(
      'the request to finish',
      async () => {
        const row = await requestRow(requestId);
        return ['succeeded', 'failed', 'refused', 'interrupted'].includes(row.state) ? row : undefined;
      },
      90_000,
    );
    expect(done.state_detail).toBeTruthy();
    expect(done.state).toBe('succeeded');
    expect(done.steps.map((s) => `${s.stepId}:${s.status}`)).toEqual([
      'record-pid:done',
      'restart:done',
      'health-gate:done',
    ]);
    const pidAfter = await mainPid('app-02');
    expect(pidAfter).not.toBe(pidBefore);
    expect(pidAfter).toBeGreaterThan(0);

    const all = await messages();
    const thread = all.filter(
      (m) => m.thread_ts === approval.ts && m.ts !== approval.ts && !m.ephemeral_user,
    );
    const progress = thread.find((m) => m.text.includes('steps done'));
    expect(progress?.text).toContain('3/3 steps done');
    const result = thread.filter((m) => m.text.includes('restart app-02: succeeded'));
    expect(result).toHaveLength(1);
    expect(JSON.stringify(result[0]?.blocks)).toContain('Verification:* ✓ passed');
    const updated = approvalMessageFor(all, requestId);
    expect(JSON.stringify(updated?.blocks)).toContain('Done — succeeded and verified');
    expect(JSON.stringify(updated?.blocks)).toContain(`<@${SRE}> (L2)`);
    expect(JSON.stringify(updated?.blocks)).not.toContain('request.approve');

    // One approval row, one start, one result in the audit trail, and the chain holds.
    const approvals = await bot.db.query(
      'SELECT count(*)::int AS n FROM command_approvals WHERE request_id = $1',
      [requestId],
    );
    expect(approvals.rows[0].n).toBe(1);
    const kinds = await bot.db.query(
      'SELECT kind, count(*)::int AS n FROM audit_trail WHERE request_id = $1 GROUP BY kind ORDER BY kind',
      [requestId],
    );
    expect(Object.fromEntries(kinds.rows.map((r: { kind: string; n: number }) => [r.kind, r.n]))).toEqual({
      approval: 1,
      request: 1,
      result: 1,
      start: 1,
      step: 3,
    });
    const check = await new AuditTrail(bot.db).verify();
    expect(check.ok).toBe(true);
  });

  it('a replayed approval after the run changes nothing', async () => {
    // Slack no longer shows the button; a replay of the signed payload reaches the bot anyway.
    const replay = signedClick(DEVLEAD, approval, 'request.approve');
    const res = await fetch(`${bot.url}/slack/events`, {
      method: 'POST',
      headers: replay.headers,
      body: replay.body,
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    const approvals = await bot.db.query('SELECT approver_id FROM command_approvals WHERE request_id = $1', [
      requestId,
    ]);
    expect(approvals.rows).toEqual([{ approver_id: SRE }]);
    const starts = await bot.db.query(
      `SELECT count(*)::int AS n FROM audit_trail WHERE request_id = $1 AND kind = 'start'`,
      [requestId],
    );
    expect(starts.rows[0].n).toBe(1);
  });
});

describe('rejected and cancelled requests never run', () => {
  it('reject by an approver ends it; cancel by the requester ends it', async () => {
    const pid = await mainPid('app-03');
    await slash(ONCALL, 'restart app-03');
    const first = await eventually('request', async () => {
      const id = await latestRequestId();
      const m = approvalMessageFor(await messages(), id);
      return m && (await requestRow(id)).state === 'pending' && m.text.includes('app-03')
        ? { id, m }
        : undefined;
    });
    await click(SRE, first.m, 'request.reject');
    await eventually('rejected', async () => (await requestRow(first.id)).state === 'rejected');

    await slash(ONCALL, 'restart app-03');
    const second = await eventually('second request', async () => {
      const id = await latestRequestId();
      const m = id !== first.id ? approvalMessageFor(await messages(), id) : undefined;
      return m ? { id, m } : undefined;
    });
    await click(ONCALL, second.m, 'request.cancel');
    await eventually('cancelled', async () => (await requestRow(second.id)).state === 'cancelled');
    // A late approval of the cancelled request is refused and nothing runs.
    await click(SRE, second.m, 'request.approve');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await requestRow(second.id)).state).toBe('cancelled');
    expect(await mainPid('app-03')).toBe(pid);
  });
});

/** Slack's block_actions payload for a click, signed as Slack signs it (v0 HMAC-SHA256). */
function signedClick(
  user: string,
  m: Message,
  actionId: string,
): { body: string; headers: Record<string, string> } {
  const actions = (m.blocks as { type: string; block_id?: string }[]).find((b) => b.type === 'actions');
  const payload = {
    type: 'block_actions',
    user: { id: user, username: 'sre', name: 'sre', team_id: 'T0QNWISLAB' },
    api_app_id: 'A0QNWISBOT',
    token: 'legacy',
    container: { type: 'message', message_ts: m.ts, channel_id: OPS, is_ephemeral: false },
    trigger_id: '1.2.3',
    team: { id: 'T0QNWISLAB', domain: 'qnwis-lab' },
    channel: { id: OPS, name: 'qnwis-ops' },
    message: { type: 'message', ts: m.ts, text: m.text, blocks: m.blocks },
    response_url: `${bot.slack.url}/_local/response/replayed`,
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: actions?.block_id,
        value: buttonValue(m, actionId),
        text: { type: 'plain_text', text: 'Approve' },
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = `v0=${createHmac('sha256', bot.signingSecret).update(`v0:${ts}:${body}`).digest('hex')}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sig,
    },
  };
}

describe('two bot replicas and a replayed interaction', () => {
  it('the same approval delivered four times to two replicas runs the command once', async () => {
    const replica = await bot.replica();
    try {
      const pidBefore = await mainPid('app-01');
      await slash(ONCALL, 'restart app-01');
      const req = await eventually('request', async () => {
        const id = await latestRequestId();
        const m = approvalMessageFor(await messages(), id);
        return m?.text.includes('app-01') ? { id, m } : undefined;
      });
      const click = signedClick(SRE, req.m, 'request.approve');
      const statuses = await Promise.all(
        [bot.url, replica.url, bot.url, replica.url].map(async (base) => {
          const res = await fetch(`${base}/slack/events`, {
            method: 'POST',
            headers: click.headers,
            body: click.body,
          });
          return res.status;
        }),
      );
      expect(statuses).toEqual([200, 200, 200, 200]);
      const done = await eventually(
        'the run to end',
        async () => {
          const row = await requestRow(req.id);
          return ['succeeded', 'failed', 'refused', 'interrupted'].includes(row.state) ? row : undefined;
        },
        90_000,
      );
      expect(done.state).toBe('succeeded');
      expect(await mainPid('app-01')).not.toBe(pidBefore);
      const counts = await bot.db.query(
        `SELECT kind, count(*)::int AS n FROM audit_trail WHERE request_id = $1 AND kind IN ('approval', 'start', 'result')
         GROUP BY kind ORDER BY kind`,
        [req.id],
      );
      expect(counts.rows).toEqual([
        { kind: 'approval', n: 1 },
        { kind: 'result', n: 1 },
        { kind: 'start', n: 1 },
      ]);
      const results = (await messages()).filter((m) => m.text.includes('restart app-01: succeeded'));
      expect(results).toHaveLength(1);
    } finally {
      await replica.stop();
    }
  }, 120_000);
});

describe('Cancel while a command runs', () => {
  it('stops a rolling restart between steps: the first host done, the second untouched', async () => {
    const pid03 = await mainPid('app-03');
    // The requester is L2 (rolling-restart needs an L2 approval); an L3 approves.
    await slash(SRE, 'rolling-restart app-01 app-03 --wait 5s');
    const req = await eventually('request', async () => {
      const id = await latestRequestId();
      const m = approvalMessageFor(await messages(), id);
      return m?.text.includes('rolling-restart') ? { id, m } : undefined;
    });
    expect(JSON.stringify(req.m.blocks)).toContain('1 approval by L2 or above');
    await click(DEVLEAD, req.m, 'request.approve');
    // Once app-01 is restarted (its health gate waits ≥ 5 s), press Cancel on the running request.
    await eventually(
      'app-01 restarted',
      async () =>
        (await requestRow(req.id)).steps.some((s) => s.stepId.includes('app-01') && s.status === 'done'),
      60_000,
    );
    const running = await eventually('the running message', async () => {
      const m = approvalMessageFor(await messages(), req.id);
      return m && JSON.stringify(m.blocks).includes('Cancel (stop between steps)') ? m : undefined;
    });
    await click(SRE, running, 'request.cancel');
    const done = await eventually(
      'the run to stop',
      async () => {
        const row = await requestRow(req.id);
        return ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(row.state) ? row : undefined;
      },
      90_000,
    );
    expect(done.state).toBe('cancelled');
    expect(done.steps.some((s) => s.stepId.includes('app-03') && s.status === 'done')).toBe(false);
    expect(done.steps.some((s) => s.status === 'skipped')).toBe(true);
    expect(await mainPid('app-03')).toBe(pid03);
    const audit = await bot.db.query(
      `SELECT count(*)::int AS n FROM audit_trail WHERE request_id = $1 AND kind = 'cancel'`,
      [req.id],
    );
    expect(audit.rows[0].n).toBe(1);
  }, 150_000);
});

describe('break-glass', () => {
  it('L1 cannot declare it; L2 can, it is announced, and failover then needs one approval', async () => {
    await slash(ONCALL, 'break-glass "drill"');
    await eventually('the refusal', async () =>
      (await ephemeralTo(ONCALL)).some((t) => t.includes('Break-glass refused') && t.includes('L2')),
    );
    await slash(SRE, 'break-glass "drill: primary unreachable" --for 5m');
    const announced = await eventually('the announcement', async () =>
      (await messages()).find((m) => !m.ephemeral_user && m.text.startsWith('BREAK-GLASS declared by')),
    );
    expect(JSON.stringify(announced.blocks)).toContain('<!here>');
    expect(JSON.stringify(announced.blocks)).toContain('drill: primary unreachable');

    // failover: two approvals (one L2+) normally; its plan comes from the inventory alone, so it
    // does not depend on what other tests do to the shared lab meanwhile.
    await slash(ONCALL, 'failover --force');
    const req = await eventually('the failover request', async () => {
      const refused = (await ephemeralTo(ONCALL)).find(
        (t) => t.includes('Not requested') && t.includes('failover'),
      );
      if (refused) throw new Error(refused);
      const id = await latestRequestId();
      const m = approvalMessageFor(await messages(), id);
      return m?.text.includes('failover') ? { id, m } : undefined;
    });
    const text = JSON.stringify(req.m.blocks);
    expect(text).toContain('1 approval by L1 or above');
    expect(text).toContain('(break-glass)');
    expect(text).toContain('destructive');
    await click(ONCALL, req.m, 'request.cancel');
    await eventually('cancelled', async () => (await requestRow(req.id)).state === 'cancelled');
    const bg = await bot.db.query(`SELECT count(*)::int AS n FROM audit_trail WHERE kind = 'break-glass'`);
    expect(bg.rows[0].n).toBe(1);
  }, 60_000);
});

describe('a proposed fix on an incident', () => {
  it('a click on "Restart qnwis on app-03" requests it in the incident thread; done is shown on the incident', async () => {
    const res = await postAlertmanager(
      bot,
      notification('ServiceDown', { labels: { host: 'app-03', severity: 'critical', service: 'qnwis' } }),
    );
    expect(res.status).toBe(200);
    const incident = await eventually(
      'the incident message with its proposed fix',
      async () => {
        const row = (
          await bot.db.query(
            `SELECT id, key, slack_channel_id, slack_ts FROM incidents WHERE alertname = 'ServiceDown' AND slack_ts IS NOT NULL`,
          )
        ).rows[0] as { id: string; key: string; slack_channel_id: string; slack_ts: string } | undefined;
        if (!row) return undefined;
        const m = (await messages(row.slack_channel_id)).find((x) => x.ts === row.slack_ts);
        return m && JSON.stringify(m.blocks).includes('incident.propose.') ? { row, m } : undefined;
      },
      60_000,
    );
    const channel = incident.row.slack_channel_id;
    const propose = (
      incident.m.blocks as { type: string; elements?: { action_id: string; text: { text: string } }[] }[]
    )
      .flatMap((b) => b.elements ?? [])
      .find((e) => e.text?.text === 'Restart qnwis on app-03');
    expect(propose).toBeDefined();
    await click(ONCALL, incident.m, propose?.action_id ?? '', channel);
    const request = await eventually('the approval message in the incident thread', async () => {
      const r = (
        await bot.db.query('SELECT id, incident_id, thread_ts FROM command_requests WHERE incident_id = $1', [
          incident.row.id,
        ])
      ).rows[0] as { id: string; thread_ts: string } | undefined;
      if (!r) return undefined;
      const m = approvalMessageFor(await messages(channel), r.id);
      return m ? { ...r, m } : undefined;
    });
    expect(request.thread_ts).toBe(incident.row.slack_ts);
    expect(request.m.thread_ts).toBe(incident.row.slack_ts);
    expect(JSON.stringify(request.m.blocks)).toContain(`Incident ${incident.row.key}`);
    await click(SRE, request.m, 'request.approve', channel);
    await eventually(
      'the run to succeed',
      async () => (await requestRow(request.id)).state === 'succeeded',
      90_000,
    );
    // The incident message now says what was done.
    await eventually('the incident message to show it', async () => {
      const m = (await messages(channel)).find((x) => x.ts === incident.row.slack_ts);
      return JSON.stringify(m?.blocks ?? []).includes('restart app-03 succeeded');
    });
  }, 150_000);
});
