/**
 * `restart-redis` against the lab: the real `sudo systemctl restart redis` through the lab's
 * systemctl shim on redis-02 (the replica) and redis-01 (the primary the app hosts use), gated on
 * PING through the cache adapter, verified with a new MainPID and the `redis-stats` diagnostic.
 *
 * What happens to the keys is asserted as the lab's Redis configuration implies: no persistence
 * (`save ""`, `appendonly no`), so a restarted primary comes back empty and its replica re-syncs to
 * that empty data set, while a restarted replica gets every key back from its primary. After the
 * primary's restart every app host reconnects (/health/detailed reports redis ok again).
 */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost, type Inventory } from '../../src/inventory.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import type { SshRunner } from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  type RestartRedisArgs,
  restartRedis,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import type { HealthData } from '../../src/ops/diagnostics/health.js';
import { runDiagnostics } from '../../src/ops/diagnostics/index.js';
import { serviceMainPid } from '../../src/ops/host-commands.js';
import { openLabFleet } from '../support/fleet.js';
import { lab } from '../support/lab.js';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
const direct = new Map<string, Redis>();
const KEY = `qnwis:cache:test:restart-redis:${randomUUID()}`;

beforeAll(async () => {
  ({ inventory, ssh, db, cache, ctx } = await openLabFleet());
});

afterAll(async () => {
  try {
    // Whatever happened above, both servers run and the replica follows the primary again.
    for (const name of ['redis-01', 'redis-02'])
      await lab.systemctl(getHost(inventory, name), 'start', 'redis');
    await until('redis-02 to follow redis-01', async () =>
      (await client('redis-02').info('replication')).includes('master_link_status:up'),
    );
    await client('redis-01')
      .del(KEY)
      .catch(() => undefined);
  } finally {
    for (const c of direct.values()) c.disconnect();
    await Promise.all([ssh.close(), db.close(), cache.close()]);
  }
});

/** A plain client of one lab Redis (the test's own eyes, beside the adapter under test). */
function client(name: string): Redis {
  let c = direct.get(name);
  if (!c) {
    c = new Redis({
      host: getHost(inventory, name).address,
      port: inventory.cache.port,
      db: inventory.cache.db,
      lazyConnect: false,
      maxRetriesPerRequest: 1,
    });
    c.on('error', () => {});
    direct.set(name, c);
  }
  return c;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function mainPid(host: string): Promise<number> {
  return Number((await ssh.run(getHost(inventory, host), serviceMainPid, { unit: 'redis' })).stdout.trim());
}

function parse(host: string): RestartRedisArgs {
  const parsed = parseCommand('restart-redis', { host }, inventory);
  if (!parsed.ok || parsed.command.name !== 'restart-redis') throw new Error('did not parse');
  return parsed.command.args;
}

async function runAll(args: RestartRedisArgs) {
  const plan = await restartRedis.plan(ctx, args);
  const pre = await restartRedis.precheck(ctx, args, plan);
  const before = await mainPid(args.host);
  const progress: StepProgress[] = [];
  const started = Date.now();
  const outcome = await restartRedis.run(
    ctx,
    args,
    plan,
    async (p) => {
      progress.push(p);
    },
    new AbortController().signal,
  );
  const tookMs = Date.now() - started;
  const v = await restartRedis.verify(ctx, args, plan, outcome);
  return { plan, pre, before, progress, outcome, tookMs, v };
}

describe('restart-redis in the lab', () => {
  it('the lab runs Redis without persistence (what the key assertions below rely on)', async () => {
    for (const name of ['redis-01', 'redis-02']) {
      expect(await client(name).config('GET', 'save')).toEqual(['save', '']);
      expect(await client(name).config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    }
  });

  it('redis-02 (replica): a new process answers PONG and gets every key back from the primary', async () => {
    await client('redis-01').set(KEY, 'kept-by-the-primary', 'EX', 600);
    await until('the key to reach redis-02', async () => (await client('redis-02').get(KEY)) !== null);

    const { plan, pre, before, progress, outcome, tookMs, v } = await runAll(parse('redis-02'));
    expect(plan.facts).toMatchObject({
      host: 'redis-02',
      unit: 'redis',
      role: 'replica',
      primary: 'redis-01',
    });
    expect(plan.blastRadius).toBe(
      'redis-02 is a replica of redis-01: the app fleet keeps its cache on the primary; redis-02 is unavailable until it has re-synced',
    );
    expect(pre).toEqual({ ok: true, detail: 'redis-02 answers over SSH; redis is active; replica' });
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual([
      'record-pid:running',
      'record-pid:done',
      'restart:running',
      'restart:done',
      'ping-gate:running',
      'ping-gate:done',
    ]);
    expect(progress[1]?.detail).toMatch(new RegExp(`^redis MainPID ${before}; \\d+ keys?$`));
    expect(progress[5]?.detail).toMatch(
      /^redis-02: PONG in \d+ ms, .+ after the restart \(attempt \d+\); \d+ keys? now$/,
    );
    expect(tookMs).toBeLessThan(15_000);

    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}`)).toEqual(['redis-stats:redis-02']);
    const after = await mainPid('redis-02');
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(v.detail).toContain(`redis runs as a new process (${before} → ${after}) and answers`);
    // Re-synced from the primary: the key is back on the restarted replica.
    expect(await client('redis-02').get(KEY)).toBe('kept-by-the-primary');
    expect(await client('redis-02').info('replication')).toContain('master_link_status:up');
  }, 60_000);

  it('redis-01 (primary): a new process answers PONG; the cache is empty, on the replica too; the app fleet reconnects', async () => {
    await client('redis-01').set(KEY, 'lost-on-restart', 'EX', 600);
    await until('the key to reach redis-02', async () => (await client('redis-02').get(KEY)) !== null);

    const { plan, pre, before, outcome, v } = await runAll(parse('redis-01'));
    expect(plan.facts).toMatchObject({
      host: 'redis-01',
      role: 'primary',
      replicas: ['redis-02'],
      appHosts: 3,
    });
    expect(plan.blastRadius).toBe(
      'redis-01 is the cache primary: the cache of all 3 app hosts is unavailable while it restarts and cold ' +
        'afterwards (a Redis without persistence comes back empty); its replica redis-02 re-syncs from it',
    );
    expect(pre).toEqual({ ok: true, detail: 'redis-01 answers over SSH; redis is active; primary' });
    expect(outcome.status, outcome.detail).toBe('succeeded');
    const keysBefore = outcome.observations.keysBefore;
    expect(typeof keysBefore === 'number' && keysBefore > 0).toBe(true);

    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual([
      expect.stringMatching(/^redis-stats:redis-01:/),
      expect.stringMatching(/^redis-stats:redis-02:/),
    ]);
    const after = await mainPid('redis-01');
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
    expect(v.detail).toMatch(
      new RegExp(
        `^redis-01: redis runs as a new process \\(${before} → ${after}\\) and answers; redis-02 linked to it again; `,
      ),
    );

    // Nothing persisted: the key is gone from the primary, and the replica followed it.
    expect(await client('redis-01').get(KEY)).toBeNull();
    await until('redis-02 to follow redis-01', async () =>
      (await client('redis-02').info('replication')).includes('master_link_status:up'),
    );
    expect(await client('redis-02').get(KEY)).toBeNull();

    // Every app host's cache connection comes back (the app reconnects by itself).
    await until(
      'every app host to report redis ok',
      async () => {
        const results = await runDiagnostics(
          ctx,
          ['app-01', 'app-02', 'app-03'].map((h) => ({ diagnostic: 'health', target: h })),
        );
        return results.every(
          (r) => (r.data as HealthData | undefined)?.detailed?.checks.redis?.status === 'ok',
        );
      },
      20_000,
    );
  }, 90_000);
});
