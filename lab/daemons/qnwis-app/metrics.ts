/**
 * The app's Prometheus metrics: the names the runbook's alerts and dashboards use
 * (qnwis_query_duration_seconds, qnwis_queries_total, qnwis_errors_total, qnwis_cache_hit_rate,
 * qnwis_db_connections_active, ...), on a Registry of its own with Node's default process
 * metrics (process_resident_memory_bytes for the memory alerts).
 *
 * Every labelled counter starts at 0 for all its label values: `rate()` and `increase()` need a
 * first sample before the first increment, or the first error after a restart is invisible.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const QUERY_TYPES = ['simple', 'medium', 'complex'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

/** Failures the lab's error_rate fault produces (messages drawn from realistic patterns). */
export const SYNTHETIC_REASONS = ['db_pool_exhausted', 'redis_timeout', 'upstream_api', 'internal'] as const;
export type SyntheticReason = (typeof SYNTHETIC_REASONS)[number];

/** Every `reason` label value of qnwis_errors_total: synthetic ones and real dependency failures. */
export const ERROR_REASONS = [
  ...SYNTHETIC_REASONS,
  'db_unavailable',
  'statement_timeout',
  'db_error',
  'redis_unavailable',
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

export type CacheResult = 'hit' | 'miss' | 'error';

/**
 * Counts per wall-clock second in a ring of buckets, summed over the last N seconds.
 * Cheap at any query rate and exact to the second, which is all a 1 s scrape interval can see.
 */
export class SecondBuckets<K extends string> {
  private readonly keys: readonly K[];
  private readonly capacitySec: number;
  private readonly now: () => number;
  private readonly seconds: number[];
  private readonly counts: Array<Record<K, number>>;

  constructor(keys: readonly K[], capacitySec: number, now: () => number = Date.now) {
    this.keys = keys;
    this.capacitySec = capacitySec;
    this.now = now;
    this.seconds = new Array<number>(capacitySec).fill(-1);
    this.counts = Array.from({ length: capacitySec }, () => this.empty());
  }

  add(key: K, n = 1): void {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.capacitySec;
    if (this.seconds[i] !== sec) {
      this.seconds[i] = sec;
      this.counts[i] = this.empty();
    }
    const bucket = this.counts[i];
    if (bucket) bucket[key] += n;
  }

  /** Totals over the last `windowSec` seconds, the current (partial) second included. */
  sum(windowSec: number): Record<K, number> {
    const total = this.empty();
    const nowSec = Math.floor(this.now() / 1000);
    const span = Math.min(windowSec, this.capacitySec);
    for (let i = 0; i < this.capacitySec; i++) {
      const sec = this.seconds[i];
      const bucket = this.counts[i];
      if (sec === undefined || bucket === undefined || sec < 0 || nowSec - sec >= span) continue;
      for (const key of this.keys) total[key] += bucket[key];
    }
    return total;
  }

  private empty(): Record<K, number> {
    return Object.fromEntries(this.keys.map((k) => [k, 0])) as Record<K, number>;
  }
}

export interface MetricsOptions {
  host: string;
  version: string;
  poolSize: number;
  hitRateWindowSec: number;
  /** Connections the pg Pool holds right now (totalCount), read at scrape time. */
  dbConnections: () => number;
  /** Requests waiting for a pool connection right now (waitingCount). */
  dbWaiting: () => number;
  maintenance: () => boolean;
  now?: () => number;
}

export type AppMetrics = ReturnType<typeof createMetrics>;

export function createMetrics(opts: MetricsOptions) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const now = opts.now ?? Date.now;

  const lookups = new SecondBuckets(
    ['hit', 'miss', 'error'] as const,
    Math.max(opts.hitRateWindowSec, 1) + 1,
    now,
  );
  const outcomes = new SecondBuckets(['ok', 'error'] as const, 61, now);
  // 0/0 is not a rate: until the first cache lookup the gauge reads NaN, which makes
  // `qnwis_cache_hit_rate < 0.50` false instead of paging about an app that has seen no traffic.
  let lastHitRate = Number.NaN;

  new Gauge({
    name: 'qnwis_app_info',
    help: 'Constant 1, labelled with the instance and its version',
    labelNames: ['host', 'version'],
    registers: [registry],
  }).set({ host: opts.host, version: opts.version }, 1);

  const queryDuration = new Histogram({
    name: 'qnwis_query_duration_seconds',
    help: 'End-to-end duration of a query (cache lookup, SQL, cache write), failures included',
    labelNames: ['type'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 90, 120],
    registers: [registry],
  });
  const queriesTotal = new Counter({
    name: 'qnwis_queries_total',
    help: 'Queries run, failed ones included (error rate = qnwis_errors_total / qnwis_queries_total)',
    labelNames: ['type'],
    registers: [registry],
  });
  const errorsTotal = new Counter({
    name: 'qnwis_errors_total',
    help: 'Queries that failed, by query type and reason',
    labelNames: ['type', 'reason'],
    registers: [registry],
  });
  const cacheRequests = new Counter({
    name: 'qnwis_cache_requests_total',
    help: 'Redis cache operations: lookups that hit or missed, and failed lookups or writes',
    labelNames: ['result'],
    registers: [registry],
  });
  const dbQueryDuration = new Histogram({
    name: 'qnwis_db_query_duration_seconds',
    help: 'Duration of the SQL part of a query on a cache miss',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  new Gauge({
    name: 'qnwis_cache_hit_rate',
    help: `Cache hits / lookups over the last ${opts.hitRateWindowSec}s (failed lookups count as misses)`,
    registers: [registry],
    collect() {
      const w = lookups.sum(opts.hitRateWindowSec);
      const total = w.hit + w.miss + w.error;
      // No lookups in the window (load paused, maintenance): keep the last value rather than
      // inventing one.
      if (total > 0) lastHitRate = w.hit / total;
      this.set(lastHitRate);
    },
  });
  new Gauge({
    name: 'qnwis_queries_per_minute',
    help: 'Queries run in the last 60 seconds',
    registers: [registry],
    collect() {
      const w = outcomes.sum(60);
      this.set(w.ok + w.error);
    },
  });
  new Gauge({
    name: 'qnwis_error_rate',
    help: 'Failed queries / queries over the last 60 seconds (0 without queries)',
    registers: [registry],
    collect() {
      const w = outcomes.sum(60);
      const total = w.ok + w.error;
      this.set(total > 0 ? w.error / total : 0);
    },
  });
  new Gauge({
    name: 'qnwis_db_connections_active',
    help: 'Connections held by the database pool (0 when the database is unreachable)',
    registers: [registry],
    collect() {
      this.set(opts.dbConnections());
    },
  });
  new Gauge({
    name: 'qnwis_db_connections_waiting',
    help: 'Requests waiting for a database pool connection',
    registers: [registry],
    collect() {
      this.set(opts.dbWaiting());
    },
  });
  new Gauge({
    name: 'qnwis_db_pool_size',
    help: 'Configured maximum size of the database pool',
    registers: [registry],
  }).set(opts.poolSize);
  new Gauge({
    name: 'qnwis_maintenance_mode',
    help: '1 while maintenance mode is enabled (fleet-wide state in Redis), else 0',
    registers: [registry],
    collect() {
      this.set(opts.maintenance() ? 1 : 0);
    },
  });

  for (const type of QUERY_TYPES) {
    queriesTotal.inc({ type }, 0);
    queryDuration.zero({ type });
    for (const reason of ERROR_REASONS) errorsTotal.inc({ type, reason }, 0);
  }
  for (const result of ['hit', 'miss', 'error'] as const) cacheRequests.inc({ result }, 0);

  return {
    registry,
    /** A cache GET: hit, miss, or failed (a failed lookup served nothing, so it lowers the hit rate). */
    cacheLookup(result: CacheResult): void {
      cacheRequests.inc({ result });
      lookups.add(result);
    },
    /** A failed cache SET: counted as a cache error, not as a lookup. */
    cacheWriteFailed(): void {
      cacheRequests.inc({ result: 'error' });
    },
    dbQuery(seconds: number): void {
      dbQueryDuration.observe(seconds);
    },
    querySucceeded(type: QueryType, seconds: number): void {
      queriesTotal.inc({ type });
      queryDuration.observe({ type }, seconds);
      outcomes.add('ok');
    },
    queryFailed(type: QueryType, reason: ErrorReason, seconds: number): void {
      queriesTotal.inc({ type });
      errorsTotal.inc({ type, reason });
      queryDuration.observe({ type }, seconds);
      outcomes.add('error');
    },
  };
}
