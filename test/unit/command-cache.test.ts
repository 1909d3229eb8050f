/**
 * The cache commands without a Redis (issue 6, item 1): flush-cache (key and pattern), flushdb and
 * warm-cache against an in-memory stand-in of the FleetCache port that emulates SCAN's cursor (a
 * key present for the whole iteration is returned, deleted ones are not) and MULTI-free replies.
 * What matters here: the pattern flush deletes in batches with one progress line each, stops at
 * the cap and says so, never sends a key twice when SCAN repeats one, and stops between batches on
 * Cancel; plans carry plan-time observations only in `facts.observed`; the cache primary is the
 * host answering as master; the warm-up template and the script's summary line.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CacheUnreachableError, InvalidArgumentError } from '../../src/errors.js';
import { type Host, parseInventory } from '../../src/inventory.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type {
  CacheStats,
  FleetCache,
  FlushDbResult,
  KeyInfo,
  ScanPage,
  ScanResult,
} from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import { findCachePrimary } from '../../src/ops/commands/cache-common.js';
import { type CommandArgs, parseCommand } from '../../src/ops/commands/catalog.js';
import { createFlushCacheCommand, type FlushPatternFacts } from '../../src/ops/commands/flush-cache.js';
import {
  type CommandContext,
  commandModule,
  createCommandContext,
  flushCache,
  flushDb,
  IMPLEMENTED_COMMANDS,
  PlanRefusedError,
  type StepProgress,
  warmCache,
} from '../../src/ops/commands/index.js';
import {
  createWarmCacheCommand,
  describeWarmSummary,
  parseWarmSummary,
  warmCacheScript,
} from '../../src/ops/commands/warm-cache.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

function args<N extends 'flush-cache' | 'flushdb' | 'warm-cache'>(name: N, raw: unknown): CommandArgs[N] {
  const r = parseCommand(name, raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs[N];
}

/** Redis glob (`*`, `?`, `[…]`) → RegExp, enough for the patterns used here. */
function globRegExp(glob: string): RegExp {
  let out = '';
  for (const c of glob) {
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[' || c === ']') out += c;
    else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const STATS: CacheStats = {
  keyspaceHits: 70,
  keyspaceMisses: 30,
  hitRate: 0.7,
  evictedKeys: 0,
  connectedClients: 5,
  usedMemoryBytes: 2_000_000,
  maxmemoryBytes: 0,
  maxmemoryPolicy: 'noeviction',
  role: 'master',
  connectedReplicas: 1,
};

/**
 * One Redis per host name. SCAN walks a fixed order (every key ever written, in write order), so
 * deleting while scanning never skips a key, as the real cursor guarantees; `repeat` makes each
 * page start with the previous page's last key again (SCAN may return a key twice).
 */
class FakeCache {
  readonly calls: string[] = [];
  readonly data = new Map<string, { type: string; ttlMs: number | null }>();
  private readonly order: string[] = [];
  roles: Record<string, CacheStats['role'] | Error> = { 'redis-01': 'master', 'redis-02': 'slave' };
  repeat = false;
  /** Called after each UNLINK (to abort mid-run, say). */
  onDelete: (() => void) | undefined;

  set(key: string, ttlMs: number | null = 30_000, type = 'string'): void {
    if (!this.data.has(key)) this.order.push(key);
    this.data.set(key, { type, ttlMs });
  }

  keys(pattern = '*'): string[] {
    const re = globRegExp(pattern);
    return [...this.data.keys()].filter((k) => re.test(k)).sort();
  }

  port(): FleetCache {
    const port: Pick<
      FleetCache,
      'stats' | 'keyInfo' | 'scanPage' | 'scanKeys' | 'deleteKeys' | 'dbSize' | 'flushDb'
    > = {
      stats: async (host: Host): Promise<CacheStats> => {
        const role = this.roles[host.name];
        if (role instanceof Error) throw role;
        return { ...STATS, role: role ?? 'master' };
      },
      keyInfo: async (host: Host, key: string): Promise<KeyInfo> => {
        this.calls.push(`keyInfo ${host.name} ${key}`);
        const v = this.data.get(key);
        return v
          ? { exists: true, type: v.type, ttlMs: v.ttlMs }
          : { exists: false, type: null, ttlMs: null };
      },
      scanPage: async (host: Host, pattern: string, cursor: string, count = 500): Promise<ScanPage> => {
        this.calls.push(`scan ${host.name} ${pattern} ${cursor}`);
        const re = globRegExp(pattern);
        const from = Number(cursor);
        const start = this.repeat && from > 0 ? from - 1 : from;
        const page = this.order.slice(start, from + count).filter((k) => this.data.has(k) && re.test(k));
        const next = from + count >= this.order.length ? '0' : String(from + count);
        return { cursor: next, keys: page };
      },
      scanKeys: async (_host: Host, pattern: string, opts: { limit?: number } = {}): Promise<ScanResult> => {
        const all = this.keys(pattern);
        const limit = opts.limit ?? 1000;
        return { keys: all.slice(0, limit), truncated: all.length > limit, calls: 1 };
      },
      deleteKeys: async (host: Host, keys: readonly string[]): Promise<number> => {
        this.calls.push(`unlink ${host.name} ${keys.length}`);
        let n = 0;
        for (const k of keys) if (this.data.delete(k)) n++;
        this.onDelete?.();
        return n;
      },
      dbSize: async (): Promise<number> => this.data.size,
      flushDb: async (host: Host): Promise<FlushDbResult> => {
        this.calls.push(`flushdb ${host.name}`);
        const before = this.data.size;
        this.data.clear();
        return { keysBefore: before, keysAfter: 0 };
      },
    };
    return port as unknown as FleetCache;
  }
}

/** Records every command (rendered with the real template renderer); answers per command name. */
class FakeSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  private readonly answer: (command: string) => Partial<RemoteCommandResult>;
  constructor(answer: (command: string) => Partial<RemoteCommandResult> = () => ({})) {
    this.answer = answer;
  }
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    this.sent.push(`${host.name} ${renderRemoteCommand(command, a)}`);
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 3100,
      ...this.answer(command.name),
    };
  }
}

function context(cache: FakeCache, ssh: RemoteCommandRunner = new FakeSsh()): CommandContext {
  return createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db: {} as FleetDatabase,
      cache: cache.port(),
      adminToken: undefined,
      now: () => new Date('2026-03-01T10:00:00.000Z'),
    }),
  );
}

describe('registration', () => {
  it('registers the three cache commands under their catalog names', () => {
    expect(IMPLEMENTED_COMMANDS).toEqual(expect.arrayContaining(['flush-cache', 'flushdb', 'warm-cache']));
    expect(commandModule('flush-cache')).toBe(flushCache);
    expect(commandModule('flushdb')).toBe(flushDb);
    expect(commandModule('warm-cache')).toBe(warmCache);
  });
});

describe('the cache primary', () => {
  it('is the redis host that answers as master, whatever its place in the inventory', async () => {
    const cache = new FakeCache();
    cache.roles = { 'redis-01': 'slave', 'redis-02': 'master' };
    const p = await findCachePrimary(context(cache));
    expect(p).toMatchObject({ ok: true, host: { name: 'redis-02' }, others: ['redis-01'] });
  });

  it('refuses two masters, and no master, with a sentence', async () => {
    const cache = new FakeCache();
    cache.roles = { 'redis-01': 'master', 'redis-02': 'master' };
    expect(await findCachePrimary(context(cache))).toEqual({
      ok: false,
      reason:
        'redis-01 and redis-02 all answer as redis master: which one the app uses cannot be told; repair the replication first',
    });
    cache.roles = {
      'redis-01': new CacheUnreachableError('redis-01', 'connect ECONNREFUSED'),
      'redis-02': 'slave',
    };
    const none = await findCachePrimary(context(cache));
    expect(none.ok).toBe(false);
    if (!none.ok)
      expect(none.reason).toMatch(/^no redis host answers as master \(redis-01, redis-02\): redis-01: /);
    await expect(flushDb.plan(context(cache), args('flushdb', {}))).rejects.toBeInstanceOf(PlanRefusedError);
  });
});

describe('flush-cache KEY', () => {
  it('plans UNLINK of the one key on the primary, showing whether it exists, its type and TTL', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:q_1', 12_300, 'string');
    const ctx = context(cache);
    const a = args('flush-cache', { key: 'qnwis:cache:query:q_1' });
    const plan = await flushCache.plan(ctx, a);
    expect(plan).toEqual({
      command: 'flush-cache',
      summary: 'flush-cache qnwis:cache:query:q_1',
      steps: [
        {
          id: 'delete',
          host: 'redis-01',
          kind: 'remote-command',
          description:
            'UNLINK qnwis:cache:query:q_1 on redis-01 (db 0): DEL without blocking the server; no other key is touched',
        },
      ],
      blastRadius:
        '1 cache key (qnwis:cache:query:q_1) on the cache primary redis-01 (db 0); redis-02 follows it; ' +
        'the app recomputes that answer on its next request',
      facts: {
        host: 'redis-01',
        db: 0,
        keyPattern: 'qnwis:cache:*',
        others: ['redis-02'],
        kind: 'key',
        key: 'qnwis:cache:query:q_1',
        observed: { exists: true, type: 'string', ttlSec: 13 },
      },
    });
  });

  it('deletes it, and only it; verify sees EXISTS 0', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:q_1');
    cache.set('qnwis:cache:query:q_10');
    const ctx = context(cache);
    const a = args('flush-cache', { key: 'qnwis:cache:query:q_1' });
    const plan = await flushCache.plan(ctx, a);
    expect(await flushCache.precheck(ctx, a, plan)).toEqual({
      ok: true,
      detail: 'qnwis:cache:query:q_1 exists on redis-01',
    });
    const outcome = await flushCache.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome).toMatchObject({ status: 'succeeded', observations: { removed: 1 } });
    expect(cache.keys()).toEqual(['qnwis:cache:query:q_10']);
    expect(await flushCache.verify(ctx, a, plan, outcome)).toMatchObject({
      ok: true,
      after: 'EXISTS qnwis:cache:query:q_1 = 0',
      before: 'qnwis:cache:query:q_1 exists (string, TTL 30 s) (at plan time)',
    });
  });

  it('a key gone before the run is no reason to refuse: the delete finds nothing and says so', async () => {
    const cache = new FakeCache();
    const ctx = context(cache);
    const a = args('flush-cache', { key: 'qnwis:cache:query:gone' });
    const plan = await flushCache.plan(ctx, a);
    expect(plan.facts.kind === 'key' && plan.facts.observed).toEqual({
      exists: false,
      type: null,
      ttlSec: null,
    });
    expect(await flushCache.precheck(ctx, a, plan)).toMatchObject({ ok: true });
    const outcome = await flushCache.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.steps[0]?.detail).toBe(
      'qnwis:cache:query:gone did not exist on redis-01 (expired or deleted since the plan): nothing to delete',
    );
  });

  it('the precheck refuses when the planned host is no longer the primary, or the plan is for another key', async () => {
    const cache = new FakeCache();
    const ctx = context(cache);
    const a = args('flush-cache', { key: 'qnwis:cache:query:q_1' });
    const plan = await flushCache.plan(ctx, a);
    expect(
      await flushCache.precheck(ctx, args('flush-cache', { key: 'qnwis:cache:query:q_2' }), plan),
    ).toEqual({
      ok: false,
      reason: 'the plan is not for this key',
    });
    cache.roles = { 'redis-01': 'slave', 'redis-02': 'master' };
    expect(await flushCache.precheck(ctx, a, plan)).toEqual({
      ok: false,
      reason: 'the cache primary is now redis-02, not redis-01 as planned: plan again',
    });
  });
});

describe('flush-cache --pattern', () => {
  function seeded(n: number): FakeCache {
    const cache = new FakeCache();
    for (let i = 0; i < n; i++) {
      cache.set(`qnwis:cache:query:t${String(i).padStart(2, '0')}`);
      cache.set(`qnwis:cache:user:${i}`); // outside the pattern, interleaved
    }
    cache.set('qnwis:maintenance'); // outside the cache key space
    return cache;
  }

  it('keeps the observed count out of the steps: two plans of different counts differ only in facts.observed', async () => {
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: '10' });
    const few = await flushCache.plan(context(seeded(3)), a);
    const many = await flushCache.plan(context(seeded(25)), a);
    expect(few.facts.kind === 'pattern' && few.facts.observed).toEqual({
      matching: 3,
      complete: true,
      examples: ['qnwis:cache:query:t00', 'qnwis:cache:query:t01', 'qnwis:cache:query:t02'],
    });
    expect(many.facts.kind === 'pattern' && many.facts.observed.matching).toBe(25);
    const { facts: ff, ...restFew } = few;
    const { facts: fm, ...restMany } = many;
    expect(restMany).toEqual(restFew);
    expect({ ...ff, observed: null }).toEqual({ ...fm, observed: null });
    expect(few.steps).toEqual([
      {
        id: 'scan-delete',
        host: 'redis-01',
        kind: 'remote-command',
        description:
          'SCAN redis-01 (db 0) MATCH qnwis:cache:query:* COUNT 1000 (never KEYS), UNLINK the matching keys in ' +
          'batches of up to 500 (at most 1 batch); stop after 10 keys',
        timeoutSec: 300,
      },
    ]);
    expect(few.blastRadius).toBe(
      'at most 10 cache keys matching qnwis:cache:query:* on the cache primary redis-01 (db 0); redis-02 follows it; ' +
        'keys outside the pattern are untouched; the app recomputes those answers on their next request',
    );
  });

  it('deletes in batches with a progress line each, stops at the cap, and says the cap was hit', async () => {
    const cache = seeded(25);
    const cmd = createFlushCacheCommand({ batchSize: 4, scanCount: 7 });
    const ctx = context(cache);
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 10 });
    const plan = await cmd.plan(ctx, a);
    const progress: StepProgress[] = [];
    const outcome = await cmd.run(
      ctx,
      a,
      plan,
      async (p) => {
        progress.push(p);
      },
      new AbortController().signal,
    );
    expect(outcome.status).toBe('succeeded');
    expect(progress.map((p) => `${p.status}: ${p.detail}`)).toEqual([
      `running: ${plan.steps[0]?.description}`,
      'running: batch 1: 4 keys deleted so far (cap 10)',
      'running: batch 2: 8 keys deleted so far (cap 10)',
      'running: batch 3: 10 keys deleted so far (cap 10)',
      'done: 10 keys deleted in 3 batches in 0 ms; stopped at the cap of 10: more keys match qnwis:cache:query:*',
    ]);
    expect(cache.keys('qnwis:cache:query:*')).toHaveLength(15);
    expect(cache.keys('qnwis:cache:user:*')).toHaveLength(25);
    expect(cache.keys('qnwis:maintenance')).toHaveLength(1);
    expect(outcome.observations).toMatchObject({
      deleted: 10,
      sent: 10,
      batches: 3,
      capped: true,
      scanComplete: false,
    });
    const v = await cmd.verify(ctx, a, plan, outcome);
    expect(v).toMatchObject({
      ok: true,
      detail: 'the cap of 10 was hit: 15 keys still match; run it again to delete more',
    });
  });

  it('exactly maxKeys matching keys is not "capped": the scan finishes and verify finds none', async () => {
    const cache = seeded(10);
    const cmd = createFlushCacheCommand({ batchSize: 4, scanCount: 7 });
    const ctx = context(cache);
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 10 });
    const plan = await cmd.plan(ctx, a);
    const outcome = await cmd.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.observations).toMatchObject({ deleted: 10, capped: false, scanComplete: true });
    expect(await cmd.verify(ctx, a, plan, outcome)).toMatchObject({
      ok: true,
      after: '0 keys match qnwis:cache:query:* on redis-01',
      detail: 'no key matches qnwis:cache:query:* any more',
    });
  });

  it('a key SCAN returns twice is sent once', async () => {
    const cache = seeded(12);
    cache.repeat = true;
    const cmd = createFlushCacheCommand({ batchSize: 100, scanCount: 3 });
    const ctx = context(cache);
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 100 });
    const plan = await cmd.plan(ctx, a);
    const outcome = await cmd.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.observations).toMatchObject({ deleted: 12, sent: 12, batches: 1, capped: false });
    expect(cache.keys('qnwis:cache:query:*')).toEqual([]);
  });

  it('Cancel stops between batches: what was deleted stays deleted, the rest is kept', async () => {
    const cache = seeded(20);
    const cmd = createFlushCacheCommand({ batchSize: 5, scanCount: 4 });
    const ctx = context(cache);
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*', maxKeys: 100 });
    const plan = await cmd.plan(ctx, a);
    const cancel = new AbortController();
    let unlinks = 0;
    cache.onDelete = () => {
      if (++unlinks === 2) cancel.abort();
    };
    const outcome = await cmd.run(ctx, a, plan, async () => {}, cancel.signal);
    expect(outcome.status).toBe('cancelled');
    expect(outcome.steps[0]).toEqual({
      stepId: 'scan-delete',
      status: 'skipped',
      detail: 'cancelled after 10 keys deleted in 2 batches; matching keys not yet deleted were kept',
    });
    expect(cache.keys('qnwis:cache:query:*')).toHaveLength(10);
    const v = await cmd.verify(ctx, a, plan, outcome);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/^10 keys still match: the flush did not finish/);
  });

  it('keys written again after a complete flush are reported as new, not as a failure', async () => {
    const cache = seeded(3);
    const ctx = context(cache);
    const a = args('flush-cache', { pattern: 'qnwis:cache:query:*' });
    const plan = await flushCache.plan(ctx, a);
    const outcome = await flushCache.run(ctx, a, plan, async () => {}, new AbortController().signal);
    cache.set('qnwis:cache:query:t01'); // the app cached that answer again
    expect(await flushCache.verify(ctx, a, plan, outcome)).toMatchObject({
      ok: true,
      detail: '1 key match again: written after the flush began (the app caches as it serves)',
    });
  });

  it('facts say how the run is bounded', async () => {
    const plan = await flushCache.plan(
      context(seeded(1)),
      args('flush-cache', { pattern: 'qnwis:cache:query:*' }),
    );
    expect(plan.facts).toMatchObject({
      kind: 'pattern',
      pattern: 'qnwis:cache:query:*',
      maxKeys: 1000,
      batchSize: 500,
      scanCount: 1000,
      timeoutSec: 300,
    } satisfies Partial<FlushPatternFacts>);
  });
});

describe('flushdb', () => {
  it('plans FLUSHDB on the primary db only, with the blast radius and a snapshot of what is there', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:a');
    cache.set('qnwis:cache:query:b');
    cache.set('qnwis:maintenance', null);
    const plan = await flushDb.plan(context(cache), args('flushdb', {}));
    expect(plan.steps).toEqual([
      {
        id: 'flushdb',
        host: 'redis-01',
        kind: 'remote-command',
        description:
          'FLUSHDB ASYNC on the cache primary redis-01 (127.0.3.1:6379, db 0), between two DBSIZE in one transaction; never FLUSHALL',
      },
    ]);
    expect(plan.blastRadius).toBe(
      "every key in db 0 of the cache primary redis-01: the whole cache (qnwis:cache:*) and anything else kept there, such as the app's maintenance flag; " +
        'redis-02 follows it; other databases on the server are untouched; until the cache refills, queries of all 3 app hosts go to the database',
    );
    expect(plan.facts.observed).toEqual({ dbsize: 3, cacheKeys: 2, cacheKeysComplete: true });
  });

  it('run records what the transaction saw', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:a');
    const ctx = context(cache);
    const plan = await flushDb.plan(ctx, args('flushdb', {}));
    const outcome = await flushDb.run(ctx, {}, plan, async () => {}, new AbortController().signal);
    expect(outcome).toMatchObject({
      status: 'succeeded',
      observations: { keysBefore: 1, keysAfter: 0, flushedAt: '2026-03-01T10:00:00.000Z' },
    });
    expect(cache.calls).toContain('flushdb redis-01');
  });
});

describe('warm-cache', () => {
  it('runs the runbook command in the app directory, every value quoted by the template', () => {
    expect(renderRemoteCommand(warmCacheScript, { appDir: '/opt/qnwis' })).toBe(
      "timeout --kill-after=2 300 sh -c 'cd '\\''/opt/qnwis'\\'' && venv/bin/python scripts/warm_cache.py'",
    );
    for (const bad of ['opt/qnwis', '/opt/../etc', '/opt/qnwis; id', '/opt/$(id)']) {
      expect(() => renderRemoteCommand(warmCacheScript, { appDir: bad })).toThrow(InvalidArgumentError);
      expect(() => createWarmCacheCommand({ appDir: bad })).toThrow();
    }
  });

  it('reads the script summary line, and describes it', () => {
    const out =
      'noise\n{"already_cached": 175, "answered": 180, "base_url": "http://127.0.1.2:8000", "cached_now": 5, ' +
      '"distinct_queries": 40, "duration_ms": 2957, "errors": 0, "questions": 180}\n';
    const s = parseWarmSummary(out);
    expect(s).toMatchObject({ questions: 180, distinct_queries: 40, cached_now: 5, errors: 0 });
    expect(describeWarmSummary(s ?? {})).toBe(
      'asked 180 questions: 40 distinct queries cached (5 new answers), 0 errors in 2 s',
    );
    expect(parseWarmSummary('done\n')).toBeUndefined();
    expect(parseWarmSummary('{not json')).toBeUndefined();
    expect(parseWarmSummary('{"questions": -1}')).toBeUndefined();
  });

  it('plans the script on the chosen app host and compares the cache before and after', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:a');
    const ssh = new FakeSsh((name) => {
      if (name !== 'warm-cache') return {};
      for (const k of ['b', 'c', 'd']) cache.set(`qnwis:cache:query:${k}`);
      return {
        stdout:
          '{"questions": 12, "distinct_queries": 4, "cached_now": 3, "errors": 0, "duration_ms": 900}\n',
      };
    });
    const ctx = context(cache, ssh);
    const a = args('warm-cache', { host: 'app-02' });
    const plan = await warmCache.plan(ctx, a);
    expect(plan.steps.map((s) => `${s.id}@${s.host}:${s.kind}`)).toEqual([
      'before@redis-01:capture',
      'warm@app-02:remote-command',
    ]);
    expect(plan.steps[1]?.description).toBe(
      'cd /opt/qnwis && venv/bin/python scripts/warm_cache.py on app-02 (at most 300 s)',
    );
    expect(plan.blastRadius).toMatch(/^1 of 3 app hosts runs the warm-up \(app-02\)/);
    const outcome = await warmCache.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.status).toBe('succeeded');
    expect(ssh.sent).toEqual([
      "app-02 timeout --kill-after=2 300 sh -c 'cd '\\''/opt/qnwis'\\'' && venv/bin/python scripts/warm_cache.py'",
    ]);
    expect(outcome.steps[1]?.detail).toBe(
      'app-02: warm_cache.py asked 12 questions: 4 distinct queries cached (3 new answers), 0 errors in 900 ms (3 s over SSH)',
    );
    const v = await warmCache.verify(ctx, a, plan, outcome);
    expect(v).toMatchObject({ ok: true, before: '1 key in db 0 on redis-01; lifetime hit rate 70 %' });
    expect(v.detail).toMatch(
      /^keys 1 → 4 \(\+3\); lifetime hit rate 70 % → 70 %; the script asked 12 questions/,
    );
  });

  it('an app host is required, and fewer keys afterwards fails the verification', async () => {
    const cache = new FakeCache();
    cache.set('qnwis:cache:query:a');
    cache.set('qnwis:cache:query:b');
    const ssh = new FakeSsh((name) => {
      if (name === 'warm-cache') cache.data.delete('qnwis:cache:query:a');
      return {};
    });
    const ctx = context(cache, ssh);
    await expect(warmCache.plan(ctx, { host: 'redis-01' })).rejects.toThrow(
      'warm-cache: redis-01 is not an app host (roles: redis)',
    );
    const a = args('warm-cache', {});
    expect(a).toEqual({ host: 'app-01' });
    const plan = await warmCache.plan(ctx, a);
    const outcome = await warmCache.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.steps[1]?.detail).toBe('app-01: warm_cache.py no output (3 s over SSH)');
    expect(await warmCache.verify(ctx, a, plan, outcome)).toMatchObject({
      ok: false,
      detail: 'the cache holds fewer keys than before (2 → 1)',
    });
  });
});
