/**
 * The cache commands against the lab's Redis (redis-01 primary, redis-02 replica) and app hosts,
 * with the real adapters: plan → precheck → run → verify, and the effect checked independently
 * with a plain Redis client.
 *
 * - flush-cache KEY deletes that key and nothing else (its neighbours, keys outside the cache key
 *   space and the app's own keys stay);
 * - flush-cache --pattern deletes in batches, stops at --max-keys with the rest intact, and a
 *   second run deletes the remainder; keys next to the pattern stay;
 * - flushdb is refused while the app is in maintenance mode (its flag lives in this database),
 *   then empties db 0 and the app stays healthy;
 * - warm-cache runs /opt/qnwis/scripts/warm_cache.py on app-02 over SSH and the cache fills.
 *
 * The test keys live under a unique prefix and are removed in afterAll; the file ends with a
 * warm cache (the warm-up runs last), as the lab normally has one.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost, type Inventory } from '../../src/inventory.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { type CommandArgs, parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  createCommandContext,
  createFlushCacheCommand,
  flushCache,
  flushDb,
  type StepProgress,
  warmCache,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { labCredentials, labInventory } from '../support/lab.js';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
let adminToken: string;
/** The "app": seeds and inspects redis-01 directly. */
let redis: Redis;

const id = randomUUID().slice(0, 8);
/** Inside the cache key space (qnwis:cache:*): what the commands may touch. */
const base = `qnwis:cache:chatops-test-${id}`;
/** Outside it: the commands may never touch it (flushdb aside, which empties the whole db). */
const outside = `qnwis:chatops-test-${id}:session`;

function parsed<N extends 'flush-cache' | 'flushdb' | 'warm-cache'>(name: N, raw: unknown): CommandArgs[N] {
  const r = parseCommand(name, raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs[N];
}

async function seed(keys: readonly string[], ttlSec = 600): Promise<void> {
  const m = redis.multi();
  for (const k of keys) m.set(k, `value of ${k}`, 'EX', ttlSec);
  await m.exec();
}

async function scanAll(pattern: string): Promise<string[]> {
  const out = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.add(k);
  } while (cursor !== '0');
  return [...out].sort();
}

async function setMaintenance(enabled: boolean): Promise<void> {
  const res = await fetch('http://127.0.1.1:8000/admin/maintenance', {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(enabled ? { enabled, message: 'chatops cache test' } : { enabled }),
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
  // Every instance polls the flag every second.
  await expect
    .poll(
      async () => {
        const states = await Promise.all(
          [1, 2, 3].map(async (i) => {
            const r = await fetch(`http://127.0.1.${i}:8000/health`, { signal: AbortSignal.timeout(5_000) });
            return ((await r.json()) as { maintenance: boolean }).maintenance;
          }),
        );
        return states.every((s) => s === enabled);
      },
      { timeout: 15_000, interval: 250 },
    )
    .toBe(true);
}

const noProgress = async () => {};
const never = () => new AbortController().signal;

beforeAll(async () => {
  inventory = labInventory();
  const creds = await labCredentials();
  adminToken = creds.adminToken;
  ssh = new SshRunner({ connectTimeoutMs: 5_000 });
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined, commandTimeoutMs: 5_000 });
  ctx = createCommandContext(
    createDiagnosticContext({ inventory, ssh, db, cache, adminToken, stepTimeoutMs: 10_000 }),
  );
  const primary = getHost(inventory, 'redis-01');
  redis = new Redis({
    host: primary.address,
    port: inventory.cache.port,
    db: inventory.cache.db,
    lazyConnect: true,
  });
  await redis.connect();
});

afterAll(async () => {
  const leftovers = [...(await scanAll(`${base}*`)), ...(await scanAll(`${outside}*`))];
  if (leftovers.length > 0) await redis.del(...leftovers);
  redis.disconnect();
  await Promise.all([ssh.close(), db.close(), cache.close()]);
});

describe('flush-cache KEY', () => {
  it('deletes exactly that key: its neighbours and keys outside the cache key space stay', async () => {
    const victim = `${base}:k:a`;
    const neighbours = [`${base}:k:ab`, `${base}:k:b`, `${base}:k`];
    await seed([victim, ...neighbours, outside]);

    const a = parsed('flush-cache', { key: victim });
    const plan = await flushCache.plan(ctx, a);
    expect(plan.steps.map((s) => `${s.id}@${s.host}`)).toEqual(['delete@redis-01']);
    expect(plan.facts).toMatchObject({ kind: 'key', key: victim, host: 'redis-01', others: ['redis-02'] });
    expect(plan.facts.kind === 'key' && plan.facts.observed).toMatchObject({ exists: true, type: 'string' });
    expect(plan.facts.kind === 'key' && plan.facts.observed.ttlSec).toBeGreaterThan(500);

    expect(await flushCache.precheck(ctx, a, plan)).toEqual({
      ok: true,
      detail: `${victim} exists on redis-01`,
    });
    const progress: StepProgress[] = [];
    const outcome = await flushCache.run(
      ctx,
      a,
      plan,
      async (p) => {
        progress.push(p);
      },
      never(),
    );
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual(['delete:running', 'delete:done']);
    expect(progress[1]?.detail).toBe(`deleted ${victim} on redis-01`);

    expect(await redis.exists(victim)).toBe(0);
    for (const k of [...neighbours, outside]) expect(await redis.get(k)).toBe(`value of ${k}`);
    // The replica follows.
    const replica = new Redis({ host: getHost(inventory, 'redis-02').address, port: inventory.cache.port });
    try {
      await expect.poll(() => replica.exists(victim), { timeout: 5_000 }).toBe(0);
      expect(await replica.exists(neighbours[0] ?? '')).toBe(1);
    } finally {
      replica.disconnect();
    }

    const v = await flushCache.verify(ctx, a, plan, outcome);
    expect(v, v.detail).toMatchObject({ ok: true, after: `EXISTS ${victim} = 0` });
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}`)).toEqual(['redis-stats:redis-01']);
  }, 90_000);
});

describe('flush-cache --pattern', () => {
  it('deletes in batches up to the cap, then the remainder; nothing beside the pattern', async () => {
    const matching = Array.from({ length: 30 }, (_, i) => `${base}:p:${String(i).padStart(2, '0')}`);
    // Close to the pattern but not matching it, and outside the key space.
    const beside = [`${base}:p`, `${base}:pq:1`, `${base}:x:p:1`];
    await seed([...matching, ...beside, outside]);
    const pattern = `${base}:p:*`;
    const small = createFlushCacheCommand({ batchSize: 5 });

    const a = parsed('flush-cache', { pattern, maxKeys: '12' });
    const plan = await small.plan(ctx, a);
    expect(plan.facts.kind === 'pattern' && plan.facts.observed).toMatchObject({
      matching: 30,
      complete: true,
    });
    expect(plan.facts.kind === 'pattern' && plan.facts.observed.examples).toEqual(matching.slice(0, 5));
    expect(plan.steps[0]?.description).toContain(`MATCH ${pattern}`);
    expect(plan.steps[0]?.description).toContain('(never KEYS)');
    expect(plan.blastRadius).toMatch(
      new RegExp(`^at most 12 cache keys matching ${pattern.replace(/[*]/g, '\\*')}`),
    );
    const pre = await small.precheck(ctx, a, plan);
    expect(pre).toEqual({
      ok: true,
      detail: `30 keys match ${pattern} on redis-01 now (30 keys at plan time); the cap stops the run after 12`,
    });

    const progress: StepProgress[] = [];
    const first = await small.run(
      ctx,
      a,
      plan,
      async (p) => {
        progress.push(p);
      },
      never(),
    );
    expect(first.status, first.detail).toBe('succeeded');
    expect(progress.slice(1, -1).map((p) => p.detail)).toEqual([
      'batch 1: 5 keys deleted so far (cap 12)',
      'batch 2: 10 keys deleted so far (cap 12)',
      'batch 3: 12 keys deleted so far (cap 12)',
    ]);
    expect(progress.at(-1)?.detail).toMatch(
      /^12 keys deleted in 3 batches in .+; stopped at the cap of 12: more keys match/,
    );
    expect(first.observations).toMatchObject({ deleted: 12, sent: 12, batches: 3, capped: true });
    expect(await scanAll(pattern)).toHaveLength(18);
    const v1 = await small.verify(ctx, a, plan, first);
    expect(v1).toMatchObject({
      ok: true,
      detail: 'the cap of 12 was hit: 18 keys still match; run it again to delete more',
    });

    const rest = parsed('flush-cache', { pattern });
    const plan2 = await flushCache.plan(ctx, rest);
    expect(plan2.facts.kind === 'pattern' && plan2.facts.observed.matching).toBe(18);
    const second = await flushCache.run(ctx, rest, plan2, noProgress, never());
    expect(second.observations).toMatchObject({ deleted: 18, capped: false, scanComplete: true });
    expect(await scanAll(pattern)).toEqual([]);
    const v2 = await flushCache.verify(ctx, rest, plan2, second);
    expect(v2).toMatchObject({ ok: true, detail: `no key matches ${pattern} any more` });

    for (const k of [...beside, outside]) expect(await redis.get(k)).toBe(`value of ${k}`);
  }, 90_000);
});

describe('flushdb', () => {
  it('is refused while the app is in maintenance mode: its flag lives in the same database', async () => {
    const plan = await flushDb.plan(ctx, {});
    try {
      await setMaintenance(true);
      const pre = await flushDb.precheck(ctx, {}, plan);
      expect(pre.ok).toBe(false);
      if (!pre.ok) expect(pre.reason).toMatch(/^maintenance mode is on \(app-01, app-02, app-03 report it\)/);
    } finally {
      await setMaintenance(false);
    }
  }, 90_000);

  it('empties db 0 of the primary (every key in it) and the app stays healthy', async () => {
    await seed([`${base}:f:1`, `${base}:f:2`, outside]);
    const plan = await flushDb.plan(ctx, {});
    expect(plan.steps.map((s) => `${s.id}@${s.host}`)).toEqual(['flushdb@redis-01']);
    expect(plan.steps[0]?.description).toContain(
      'FLUSHDB ASYNC on the cache primary redis-01 (127.0.3.1:6379, db 0)',
    );
    expect(plan.facts.observed.dbsize).toBeGreaterThanOrEqual(3);
    expect(plan.facts.observed.cacheKeys).toBeGreaterThanOrEqual(2);
    const pre = await flushDb.precheck(ctx, {}, plan);
    expect(pre.ok, pre.ok ? '' : pre.reason).toBe(true);

    const outcome = await flushDb.run(ctx, {}, plan, noProgress, never());
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(outcome.observations.keysAfter).toBe(0);
    expect(outcome.observations.keysBefore).toBeGreaterThanOrEqual(3);
    // Seeded keys are gone, including the one outside the cache key space: FLUSHDB is the whole db.
    for (const k of [`${base}:f:1`, `${base}:f:2`, outside]) expect(await redis.exists(k)).toBe(0);

    const v = await flushDb.verify(ctx, {}, plan, outcome);
    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.after).toMatch(/^DBSIZE \d+ on redis-01 db 0/);
    expect(v.after).toContain('app-01, app-02, app-03 healthy');
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual(
      expect.arrayContaining(['health:app-01:ok', 'health:app-02:ok', 'health:app-03:ok']),
    );
    // Whatever is there now was written after the flush: none of the seeded keys came back.
    expect(await scanAll(`${base}*`)).toEqual([]);
  }, 90_000);
});

describe('warm-cache', () => {
  it('runs warm_cache.py on app-02 and the query cache fills', async () => {
    // Start from an empty query cache, as after a flush or a deployment.
    const emptied = await flushCache.run(
      ctx,
      parsed('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 10_000 }),
      await flushCache.plan(ctx, parsed('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 10_000 })),
      noProgress,
      never(),
    );
    expect(emptied.status).toBe('succeeded');

    const a = parsed('warm-cache', { host: 'app-02' });
    const plan = await warmCache.plan(ctx, a);
    expect(plan.steps.map((s) => `${s.id}@${s.host}`)).toEqual(['before@redis-01', 'warm@app-02']);
    expect(plan.facts).toMatchObject({ host: 'app-02', appDir: '/opt/qnwis', cacheHost: 'redis-01' });
    expect(await warmCache.precheck(ctx, a, plan)).toMatchObject({ ok: true });

    const started = Date.now();
    const progress: StepProgress[] = [];
    const outcome = await warmCache.run(
      ctx,
      a,
      plan,
      async (p) => {
        progress.push(p);
      },
      never(),
    );
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual([
      'before:running',
      'before:done',
      'warm:running',
      'warm:done',
    ]);
    const script = outcome.observations.script as Record<string, unknown> | null;
    expect(script).toMatchObject({ errors: 0, base_url: 'http://127.0.1.2:8000' });
    // The lab app knows 40 questions; the warm-up asked until new answers stopped coming.
    expect(script?.distinct_queries).toBeGreaterThanOrEqual(35);
    expect(script?.cached_now).toBeGreaterThan(0);
    console.log(`warm-cache run took ${tookMs} ms: ${progress[3]?.detail}`);

    const keys = await scanAll('qnwis:cache:query:*');
    expect(keys.length).toBeGreaterThanOrEqual(35);

    const v = await warmCache.verify(ctx, a, plan, outcome);
    expect(v.ok, v.detail).toBe(true);
    const before = outcome.observations.keysBefore as number;
    expect(v.detail).toMatch(new RegExp(`^keys ${before} → \\d+`));
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}`)).toEqual(['redis-stats:redis-01']);
  }, 120_000);
});
