/**
 * `kill -9` of the lab's bot (its worker) in the middle of `failover`, after the replica was
 * promoted and before any app host was repointed. A destructive command is claimed in Postgres
 * before its first step, so when BullMQ hands the stalled job to the restarted worker nothing runs
 * again by itself: the request ends `interrupted`, the thread names the steps that completed and
 * asks an operator, and the app hosts still point where they pointed. The lab's topology is
 * restored afterwards (`heal failover`).
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Faults } from '../../lab/faults.js';
import { isAlive, readPidFile } from '../../lab/process.js';
import { getHost } from '../../src/inventory.js';
import { defineRemoteCommand, SshRunner } from '../../src/ops/adapters/ssh.js';
import { eventually } from '../support/bot.js';
import { lab, labInventory } from '../support/lab.js';

const OPS = 'C0QNWISOPS';
const SRE = 'U0SRE00001'; // L2: requests
const DEVLEAD = 'U0DEVLEAD1'; // L3
const ONCALL = 'U0ONCALL01'; // L1
const exclusive = path.join(lab.dir, 'EXCLUSIVE');
const inventory = labInventory();

/** The app's database setting, read the way an operator would. */
const readSettings = defineRemoteCommand({
  name: 'test-read-app-settings',
  script: 'grep ^DATABASE_HOST= {{file}}',
  args: { file: z.literal('/etc/qnwis/.env') },
  timeoutSec: 5,
});

let db: pg.Pool;
let ssh: SshRunner;
let slackUrl: string;

beforeAll(async () => {
  while (existsSync(exclusive)) await new Promise((r) => setTimeout(r, 2000));
  writeFileSync(exclusive, 'failover-crash e2e test\n');
  const status = await lab.status();
  const url = status.botEnv?.DATABASE_URL;
  if (!url) throw new Error('the lab bot has no DATABASE_URL');
  db = new pg.Pool({ connectionString: url, max: 2 });
  ssh = new SshRunner({ connectTimeoutMs: 5_000 });
  slackUrl = lab.standInUrls().slackUrl;
}, 600_000);

afterAll(async () => {
  try {
    await lab.startBot().catch(() => undefined);
    await new Faults(lab).restore('failover');
  } finally {
    await ssh?.close();
    await db?.end();
    rmSync(exclusive, { force: true });
  }
}, 300_000);

async function slack(pathName: string, body: unknown) {
  const res = await fetch(`${slackUrl}${pathName}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.json();
}

interface Message {
  ts: string;
  thread_ts: string | null;
  text: string;
  blocks?: { type: string; block_id?: string; elements?: { action_id: string; value: string }[] }[];
}

async function messages(): Promise<Message[]> {
  const res = await fetch(`${slackUrl}/_local/messages?channel=${OPS}`);
  return (await res.json()) as Message[];
}

async function approve(user: string, m: Message) {
  const block = m.blocks?.find((b) => b.type === 'actions');
  const button = block?.elements?.find((e) => e.action_id === 'request.approve');
  if (!block || !button) throw new Error('no Approve button');
  await slack('/_local/action', {
    user,
    channel: OPS,
    ts: m.ts,
    action_id: 'request.approve',
    block_id: block.block_id,
    value: button.value,
  });
}

async function request(id: string) {
  const res = await db.query(
    'SELECT state, state_detail, steps, message_ts FROM command_requests WHERE id = $1',
    [id],
  );
  return res.rows[0] as {
    state: string;
    state_detail: string | null;
    steps: { stepId: string; status: string }[];
    message_ts: string;
  };
}

async function appDatabaseHosts(): Promise<string[]> {
  const out: string[] = [];
  for (const name of ['app-01', 'app-02', 'app-03']) {
    const r = await ssh.run(getHost(inventory, name), readSettings, { file: '/etc/qnwis/.env' });
    out.push(r.stdout.trim());
  }
  return out;
}

describe('kill -9 of the worker during failover', () => {
  it('leaves the request interrupted with the completed steps, and nothing runs again', {
    timeout: 400_000,
  }, async () => {
    const before = await appDatabaseHosts();
    const started = new Date();
    await slack('/_local/command', { user: SRE, channel: OPS, command: '/qnwis', text: 'failover --force' });
    const id = await eventually(
      'the failover request',
      async () =>
        (
          await db.query(
            `SELECT id FROM command_requests WHERE command = 'failover' AND requested_at >= $1`,
            [started],
          )
        ).rows[0]?.id as string | undefined,
      60_000,
    );
    const msg = await eventually('the approval message', async () =>
      (await messages()).find((m) => JSON.stringify(m.blocks ?? []).includes(`Request ${id}`)),
    );
    expect(JSON.stringify(msg.blocks)).toContain('2 approvals');
    await approve(DEVLEAD, msg);
    await eventually('the first approval', async () => {
      const n = (
        await db.query('SELECT count(*)::int AS n FROM command_approvals WHERE request_id = $1', [id])
      ).rows[0].n as number;
      return n === 1;
    });
    await approve(ONCALL, msg);

    // Kill the bot the moment the promotion is recorded: after promote, before any repoint.
    const pid = readPidFile(lab.daemonFiles('bot').pidFile);
    expect(isAlive(pid)).toBe(true);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const steps = (await request(id))?.steps ?? [];
      if (steps.some((s) => s.stepId === 'promote' && s.status === 'done')) break;
      if (Date.now() > deadline) throw new Error('the promotion was never recorded');
      await new Promise((r) => setTimeout(r, 10));
    }
    process.kill(pid ?? 0, 'SIGKILL');
    await eventually('the bot to die', async () => !isAlive(pid), 5_000);
    const atKill = await request(id);
    expect(atKill.state).toBe('running');
    expect(atKill.steps.some((s) => s.stepId.startsWith('repoint-') && s.status === 'done')).toBe(false);
    // A step in flight at the kill may have had its effect on a host without being recorded.
    const hostsAtKill = await appDatabaseHosts();
    expect(hostsAtKill.filter((h, i) => h !== before[i]).length).toBeLessThanOrEqual(1);

    await lab.startBot();
    // BullMQ hands the stalled job to the restarted worker (lock 30 s + stalled check).
    const ended = await eventually(
      'the request to end interrupted',
      async () => {
        const r = await request(id);
        return r.state !== 'running' ? r : undefined;
      },
      150_000,
    );
    expect(ended.state).toBe('interrupted');
    expect(ended.state_detail).toContain('promote');
    expect(ended.steps.map((s) => s.stepId)).toEqual(atKill.steps.map((s) => s.stepId));

    // Nothing runs again by itself: no repoint, no new steps, the apps point where they pointed.
    await new Promise((r) => setTimeout(r, 5_000));
    const later = await request(id);
    expect(later.steps).toEqual(ended.steps);
    expect(await appDatabaseHosts()).toEqual(hostsAtKill);

    // The thread says what completed and asks an operator.
    const thread = (await messages()).filter((m) => m.thread_ts === msg.ts && m.ts !== msg.ts);
    const note = thread.find((m) => m.text.includes('was interrupted'));
    expect(note?.text).toContain('steps completed: ');
    expect(note?.text).toContain('promote');
    expect(note?.text).toMatch(/was in progress and may have partly run/);
    expect(JSON.stringify(note?.blocks ?? [])).toContain('an operator must decide');
    const audit = await db.query(
      `SELECT kind FROM audit_trail WHERE request_id = $1 AND kind IN ('start', 'interrupted') ORDER BY id`,
      [id],
    );
    expect(audit.rows.map((r: { kind: string }) => r.kind)).toEqual(['start', 'interrupted']);
  });
});
