/** Status thresholds of every diagnostic, as pure functions (no hosts). */
import { describe, expect, it } from 'vitest';
import {
  DatabaseError,
  DatabaseTimeoutError,
  DatabaseUnreachableError,
  SshAuthError,
  SshHostKeyMismatchError,
  SshTimeoutError,
  SshUnreachableError,
} from '../../src/errors.js';
import type { Host } from '../../src/inventory.js';
import type { CacheStats } from '../../src/ops/adapters/redis.js';
import { describeFailure, formatBytes, formatDuration, oneLine } from '../../src/ops/diagnostics/common.js';
import { judgeErrorLog } from '../../src/ops/diagnostics/error-log.js';
import { type HealthData, judgeHealth } from '../../src/ops/diagnostics/health.js';
import { judgeMemory } from '../../src/ops/diagnostics/memory.js';
import { judgeActiveQueries } from '../../src/ops/diagnostics/pg-active-queries.js';
import { busiestClient, judgeConnections } from '../../src/ops/diagnostics/pg-connections.js';
import { formatLag, judgeReplica, matchStandby } from '../../src/ops/diagnostics/pg-replication.js';
import { judgeSeqScans, seqScanSuspects } from '../../src/ops/diagnostics/pg-seqscans.js';
import { judgeStatements } from '../../src/ops/diagnostics/pg-statements.js';
import { judgeRedis } from '../../src/ops/diagnostics/redis-stats.js';
import { judgeServiceState } from '../../src/ops/diagnostics/service-status.js';
import { judgeExpiry } from '../../src/ops/diagnostics/tls-expiry.js';

describe('service-status', () => {
  it('is-active exit 0 ok, 3/4 error, transitional states warn', () => {
    expect(judgeServiceState(0, 'active')).toBe('ok');
    expect(judgeServiceState(3, 'inactive')).toBe('error');
    expect(judgeServiceState(3, 'failed')).toBe('error');
    expect(judgeServiceState(4, 'inactive')).toBe('error');
    expect(judgeServiceState(3, 'activating')).toBe('warn');
  });
});

describe('error-log', () => {
  it('no recent errors ok, some warn, 50+ in the window error', () => {
    expect(judgeErrorLog(0)).toBe('ok');
    expect(judgeErrorLog(1)).toBe('warn');
    expect(judgeErrorLog(49)).toBe('warn');
    expect(judgeErrorLog(50)).toBe('error');
  });
});

describe('memory (HighMemoryUsage > 85 %)', () => {
  it('ok up to 85 %, warn above, error from 95 %', () => {
    expect(judgeMemory(0.85)).toBe('ok');
    expect(judgeMemory(0.86)).toBe('warn');
    expect(judgeMemory(0.95)).toBe('error');
    expect(judgeMemory(1.2)).toBe('error');
  });
});

describe('pg-connections', () => {
  const clients = [
    { client: 'qnwis-app app-01', user: 'qnwis', total: 17, active: 2, idle: 15, idleInTransaction: 0 },
    { client: 'qnwis-chatops', user: 'qnwis_ops', total: 19, active: 1, idle: 18, idleInTransaction: 0 },
    { client: 'qnwis-app app-02', user: 'qnwis', total: 8, active: 0, idle: 8, idleInTransaction: 0 },
  ];

  it('finds the busiest app client, ignoring the bot’s own role', () => {
    expect(busiestClient(clients, 20, 'qnwis_ops')).toEqual({
      client: 'qnwis-app app-01',
      user: 'qnwis',
      total: 17,
      poolFraction: 0.85,
    });
    expect(busiestClient([], 20, 'qnwis_ops')).toBeUndefined();
  });

  it('warns from 80 % of one pool or of the fleet’s pools, errors near max_connections', () => {
    const busy = (total: number) => ({ client: 'a', user: 'qnwis', total, poolFraction: total / 20 });
    expect(judgeConnections({ total: 19, maxConnections: 100, appPoolSize: 20 }, busy(8), 3)).toBe('ok');
    expect(judgeConnections({ total: 19, maxConnections: 100, appPoolSize: 20 }, busy(16), 3)).toBe('warn');
    expect(judgeConnections({ total: 48, maxConnections: 100, appPoolSize: 20 }, busy(15), 3)).toBe('warn');
    expect(judgeConnections({ total: 95, maxConnections: 100, appPoolSize: 20 }, busy(5), 3)).toBe('error');
    expect(judgeConnections({ total: 16, maxConnections: 100, appPoolSize: 20 }, undefined, 0)).toBe('warn');
  });
});

describe('pg-active-queries / pg-statements / pg-seqscans', () => {
  it('active queries: none ok, any warn, one past errorAge error', () => {
    expect(judgeActiveQueries([], 300_000)).toBe('ok');
    expect(judgeActiveQueries([{ ageMs: 6_000 }], 300_000)).toBe('warn');
    expect(judgeActiveQueries([{ ageMs: 6_000 }, { ageMs: 300_000 }], 300_000)).toBe('error');
  });

  it('statements: warn when a mean reaches the threshold', () => {
    expect(judgeStatements([{ meanTimeMs: 84 }], 1000)).toBe('ok');
    expect(judgeStatements([{ meanTimeMs: 84 }, { meanTimeMs: 1000 }], 1000)).toBe('warn');
  });

  it('seq scans: a big table scanned sequentially more than by index is a suspect', () => {
    const t = (table: string, seqScan: number, idxScan: number | null, liveTuples: number) => ({
      schema: 'public',
      table,
      seqScan,
      seqTupRead: seqScan * liveTuples,
      idxScan,
      liveTuples,
    });
    const suspects = seqScanSuspects(
      [
        t('work_permits', 1345, 0, 60_000),
        t('occupations', 5000, 60_909, 15),
        t('qtr_employment_stats', 2000, 100, 50_000),
        t('establishments', 1500, 60_000, 5_000),
        t('audit_log', 1200, null, 20_000),
      ],
      10_000,
    );
    expect(suspects).toEqual(['public.work_permits', 'public.qtr_employment_stats', 'public.audit_log']);
    expect(judgeSeqScans(suspects)).toBe('warn');
    expect(judgeSeqScans([])).toBe('ok');
  });
});

describe('pg-replication', () => {
  const thresholds = {
    warnLagSeconds: 30,
    errorLagSeconds: 300,
    warnLagBytes: 64 << 20,
    errorLagBytes: 1 << 30,
  };
  const replicaView = (over: Partial<Record<string, unknown>> = {}) =>
    ({
      role: 'replica',
      receiveLsn: '0/5BA97E0',
      replayLsn: '0/5BA97E0',
      lagSeconds: 0,
      lagBytes: 0,
      replayPaused: false,
      lastReplayAt: '2026-11-27T22:47:56.507839Z',
      walReceiverStatus: 'streaming',
      senderHost: '127.0.2.1',
      senderPort: 5432,
      ...over,
    }) as const;
  const standby = (over: Record<string, unknown> = {}) => ({
    pid: 27029,
    user: 'replicator',
    applicationName: 'replica',
    clientAddr: '127.0.0.1',
    state: 'streaming',
    syncState: 'async',
    sentLsn: '0/5BA97E0',
    replayLsn: '0/5BA97E0',
    replayLagSeconds: null,
    replayLagBytes: 0,
    ...over,
  });
  const primary = (standbys = [standby()]) => ({
    role: 'primary' as const,
    currentLsn: '0/5BA97E0',
    standbys,
  });

  it('healthy: streaming, lag 0, the primary lists the standby', () => {
    const p = primary();
    const j = judgeReplica('db-replica', replicaView(), undefined, p, p.standbys[0], thresholds);
    expect(j).toEqual({ status: 'ok', problems: [], lagSeconds: 0, bytesBehind: 0 });
  });

  it('the trap: a replica that stopped receiving says lag 0 — the receiver status and the primary reveal it', () => {
    const j = judgeReplica(
      'db-replica',
      replicaView({ walReceiverStatus: null }),
      undefined,
      primary([]),
      undefined,
      thresholds,
    );
    expect(j.status).toBe('error');
    expect(j.problems).toEqual([
      'db-replica is not streaming (WAL receiver: none)',
      'the primary lists no standby in pg_stat_replication',
    ]);
  });

  it('lag and bytes thresholds, paused replay, a promoted replica, an unreachable replica', () => {
    const p = primary([standby({ replayLagBytes: 100 << 20 })]);
    expect(
      judgeReplica('r', replicaView({ lagSeconds: 45 }), undefined, p, p.standbys[0], thresholds),
    ).toMatchObject({
      status: 'warn',
      problems: ['r lags 45.0 s', 'r is 100 MiB of WAL behind'],
    });
    expect(
      judgeReplica('r', replicaView({ lagSeconds: 400 }), undefined, undefined, undefined, thresholds).status,
    ).toBe('error');
    expect(
      judgeReplica('r', replicaView({ replayPaused: true }), undefined, undefined, undefined, thresholds)
        .status,
    ).toBe('warn');
    expect(
      judgeReplica(
        'r',
        { role: 'primary', currentLsn: '0/1', standbys: [] },
        undefined,
        undefined,
        undefined,
        thresholds,
      ).problems,
    ).toEqual(['r is not in recovery (promoted or misconfigured): it is not a replica']);
    expect(
      judgeReplica(
        'r',
        undefined,
        { status: 'unreachable', error: 'ECONNREFUSED' },
        undefined,
        undefined,
        thresholds,
      ).status,
    ).toBe('unreachable');
  });

  it('matches the standby by client address, else the only one', () => {
    const host = { name: 'db-replica', address: '10.0.0.2' } as Host;
    const a = standby({ clientAddr: '10.0.0.9' });
    const b = standby({ clientAddr: '10.0.0.2', pid: 2 });
    expect(matchStandby(primary([a, b]), host, 1)).toBe(b);
    expect(matchStandby(primary([a]), host, 1)).toBe(a);
    expect(matchStandby(primary([a]), host, 2)).toBeUndefined();
    expect(formatLag(0)).toBe('0 s');
    expect(formatLag(2.345)).toBe('2.3 s');
    expect(formatLag(125)).toBe('2 min 5 s');
  });
});

describe('redis-stats', () => {
  const stats = (over: Partial<CacheStats> = {}): CacheStats => ({
    keyspaceHits: 21365,
    keyspaceMisses: 7333,
    hitRate: 21365 / (21365 + 7333),
    evictedKeys: 72,
    connectedClients: 4,
    usedMemoryBytes: 2_439_104,
    maxmemoryBytes: 0,
    maxmemoryPolicy: 'noeviction',
    role: 'master',
    connectedReplicas: 1,
    ...over,
  });
  const windowOf = (hits: number, misses: number, evictedKeys = 0) => ({
    ms: 1000,
    hits,
    misses,
    hitRate: hits + misses ? hits / (hits + misses) : null,
    evictedKeys,
  });

  it('healthy lifetime rate is ok; a small window is not judged (too noisy)', () => {
    expect(judgeRedis(stats(), windowOf(6, 9))).toMatchObject({ status: 'ok', judgedOn: 'lifetime' });
  });

  it('hit rate < 60 % warn, < 50 % error — from a window with enough lookups', () => {
    expect(judgeRedis(stats(), windowOf(110, 90))).toMatchObject({ status: 'warn', judgedOn: 'window' });
    expect(judgeRedis(stats(), windowOf(40, 160))).toMatchObject({
      status: 'error',
      problems: ['hit rate 20 % (< 50 %)'],
    });
  });

  it('maxmemory 1 byte (the cache-miss fault) and climbing evictions are errors', () => {
    const j = judgeRedis(stats({ maxmemoryBytes: 1, maxmemoryPolicy: 'volatile-lru' }), windowOf(3, 12, 9));
    expect(j.status).toBe('error');
    expect(j.problems).toEqual([
      'maxmemory is 1 B: nothing can stay cached',
      'evictions climbing: +9 in 1.0 s',
    ]);
  });

  it('near maxmemory: warn with an eviction policy, error under noeviction; a replica with its link down', () => {
    const near = { usedMemoryBytes: 95 << 20, maxmemoryBytes: 100 << 20 };
    expect(judgeRedis(stats({ ...near, maxmemoryPolicy: 'allkeys-lru' }), undefined).status).toBe('warn');
    expect(judgeRedis(stats({ ...near, maxmemoryPolicy: 'noeviction' }), undefined).status).toBe('error');
    expect(judgeRedis(stats({ role: 'slave', masterLinkStatus: 'down' }), undefined).problems).toEqual([
      'replication link to the master is down',
    ]);
    expect(judgeRedis(stats({ keyspaceHits: 0, keyspaceMisses: 0, hitRate: null }), undefined)).toMatchObject(
      {
        status: 'ok',
        judgedOn: 'none',
      },
    );
  });
});

describe('tls-expiry', () => {
  const now = new Date('2026-11-27T12:00:00Z');
  it('warn under 14 days, error under 3 or expired, with whole days left', () => {
    expect(judgeExpiry(new Date('2027-02-25T12:00:00Z'), now, 14, 3)).toEqual({ status: 'ok', daysLeft: 90 });
    expect(judgeExpiry(new Date('2026-12-06T13:00:00Z'), now, 14, 3)).toEqual({
      status: 'warn',
      daysLeft: 9,
    });
    expect(judgeExpiry(new Date('2026-11-29T11:00:00Z'), now, 14, 3)).toEqual({
      status: 'error',
      daysLeft: 1,
    });
    expect(judgeExpiry(new Date('2026-11-20T12:00:00Z'), now, 14, 3)).toEqual({
      status: 'error',
      daysLeft: -7,
    });
  });
});

describe('health', () => {
  const base = (over: Partial<HealthData> = {}): HealthData => ({
    service: 'qnwis',
    health: {
      url: 'http://127.0.1.1:8000/health',
      ok: true,
      httpStatus: 200,
      latencyMs: 3,
      reported: 'healthy',
    },
    detailed: {
      url: 'http://127.0.1.1:8000/health/detailed',
      ok: true,
      httpStatus: 200,
      latencyMs: 4,
      reported: 'healthy',
      checks: { database: { status: 'ok', latencyMs: 1.2 }, redis: { status: 'ok', latencyMs: 0.4 } },
    },
    ...over,
  });

  it('healthy with dependency checks named in the summary', () => {
    const v = judgeHealth('app-01', base());
    expect(v.status).toBe('ok');
    expect(v.summary).toBe('app-01: /health 200 in 3 ms; healthy: database ok (1 ms), redis ok (0 ms)');
  });

  it('no answer is unreachable (or timeout); a failing dependency is an error', () => {
    const down = judgeHealth(
      'app-02',
      base({
        health: {
          url: 'http://127.0.1.2:8000/health',
          ok: false,
          httpStatus: null,
          latencyMs: 2,
          errorCode: 'http_unreachable',
          error: 'http://127.0.1.2:8000/health is unreachable: ECONNREFUSED',
        },
      }),
    );
    expect(down.status).toBe('unreachable');
    expect(down.summary).toBe(
      'app-02: /health unreachable (ECONNREFUSED) — the app is not answering on 127.0.1.2:8000/health',
    );
    const slow = judgeHealth(
      'app-02',
      base({
        health: {
          url: 'http://x/health',
          ok: false,
          httpStatus: null,
          latencyMs: 5000,
          errorCode: 'http_timeout',
        },
      }),
    );
    expect(slow.status).toBe('timeout');
    const degraded = base();
    const v = judgeHealth('app-01', {
      ...degraded,
      detailed: {
        url: 'http://127.0.1.1:8000/health/detailed',
        ok: false,
        httpStatus: 503,
        latencyMs: 2000,
        reported: 'degraded',
        checks: {
          database: { status: 'error', latencyMs: 2000, error: 'timed out after 2000ms' },
          redis: { status: 'ok' },
        },
      },
    });
    expect(v.status).toBe('error');
    expect(v.summary).toContain(
      '/health/detailed degraded: database error (2000 ms): timed out after 2000ms, redis ok',
    );
  });

  it('maintenance mode and a refused admin token are warnings; no token skips the detailed check', () => {
    expect(judgeHealth('app-01', base({ health: { ...base().health, maintenance: true } })).status).toBe(
      'warn',
    );
    const refused = base();
    expect(
      judgeHealth('app-01', {
        ...refused,
        detailed: {
          ...(refused.detailed as NonNullable<HealthData['detailed']>),
          ok: false,
          httpStatus: 401,
          checks: {},
        },
      }).status,
    ).toBe('warn');
    const { detailed: _omit, ...noDetailed } = base();
    const skipped = judgeHealth('app-01', { ...noDetailed, detailedSkipped: 'no admin token configured' });
    expect(skipped).toMatchObject({ status: 'ok' });
    expect(skipped.summary).toContain('detailed check skipped (no admin token configured)');
  });
});

describe('failure mapping and formatting', () => {
  it('maps typed adapter errors to statuses with a clear headline', () => {
    expect(
      describeFailure(new SshUnreachableError('app-02', 'cannot connect to 127.0.9.99:2222: ECONNREFUSED')),
    ).toMatchObject({
      status: 'unreachable',
      headline: 'not reachable over SSH (cannot connect to 127.0.9.99:2222: ECONNREFUSED)',
    });
    expect(describeFailure(new SshTimeoutError('app-01', 'memory-free', 5, 'remote')).status).toBe('timeout');
    expect(describeFailure(new DatabaseTimeoutError('db-primary', 5000, 'statement')).status).toBe('timeout');
    expect(describeFailure(new DatabaseUnreachableError('db-primary', 'ECONNREFUSED')).status).toBe(
      'unreachable',
    );
    expect(
      describeFailure(new SshAuthError('app-01', 'the host refused key /k for user root')).headline,
    ).toMatch(/^SSH login refused/);
    expect(describeFailure(new SshHostKeyMismatchError('app-01', ['SHA256:a'], 'SHA256:b'))).toMatchObject({
      status: 'error',
      headline: expect.stringMatching(/host key does not match/),
    });
    expect(
      describeFailure(new DatabaseError('db-primary', 'password authentication failed', '28P01')).headline,
    ).toMatch(/QNWIS_DB_PASSWORD/);
    expect(describeFailure(new TypeError('boom'))).toMatchObject({
      status: 'error',
      error: 'TypeError: boom',
    });
  });

  it('formats for one-line summaries', () => {
    expect(oneLine('a\nb\tc\u0000d   e')).toBe('a b c d e');
    expect(oneLine('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(formatBytes(1_073_741_824)).toBe('1.0 GiB');
    expect(formatBytes(95_973_376)).toBe('91.5 MiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatDuration(950)).toBe('950 ms');
    expect(formatDuration(12_300)).toBe('12 s');
    expect(formatDuration(185_000)).toBe('3 min 5 s');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
  });
});
