/**
 * The work the app does: a catalog of analyst questions, the query path every question takes
 * (Redis cache → SQL on qnwis_prod → cache write → audit row), the lab's fault knobs, and the
 * built-in load that plays the analysts, so metrics, logs, pg_stat_activity and Redis keys look
 * like a busy production service.
 *
 * Every failure on that path, real or injected, ends the same way: qnwis_errors_total{type,
 * reason} + 1, an ERROR line in error.log carrying query_id= and user_id=, a status=error row in
 * audit.query_log when the database takes it.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { z } from 'zod';
import { type Fields, kv, type LogFiles, Throttle } from './logs.js';
import type { AppMetrics, ErrorReason, QueryType, SyntheticReason } from './metrics.js';
import { QUERY_TYPES, SYNTHETIC_REASONS } from './metrics.js';

// ---------------------------------------------------------------------------------------------
// Reference data: must match the seed in lab/sql/qnwis_prod.sql.
// ---------------------------------------------------------------------------------------------

export const SECTORS = [
  'Construction',
  'Wholesale and retail trade',
  'Manufacturing',
  'Accommodation and food services',
  'Transportation and storage',
  'Financial and insurance activities',
  'Public administration and defence',
  'Education',
  'Human health and social work',
  'Mining and quarrying',
  'Information and communication',
  'Activities of households as employers',
] as const;

export const NATIONALITIES = [
  'Indian',
  'Nepali',
  'Bangladeshi',
  'Filipino',
  'Egyptian',
  'Pakistani',
  'Sri Lankan',
  'Qatari',
  'Other Arab',
  'Other',
] as const;

/** '2019-Q1' … '2025-Q4', oldest first. */
export const QUARTERS: readonly string[] = Array.from(
  { length: 28 },
  (_, i) => `${2019 + Math.floor(i / 4)}-Q${(i % 4) + 1}`,
);

export const CACHE_KEY_PREFIX = 'qnwis:cache:query:';

// ---------------------------------------------------------------------------------------------
// The question catalog: ~40 fixed questions, each with its query id, type and SQL. A query id
// always means the same question, so its cached answer is reusable and hit rates are meaningful.
// ---------------------------------------------------------------------------------------------

export interface CatalogEntry {
  readonly id: string;
  readonly type: QueryType;
  readonly question: string;
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Tables the SQL reads, reported in the answer. */
  readonly sources: readonly string[];
}

const SIMPLE_SQL = `
SELECT nationality, gender, count(*)::int AS records, sum(employed)::int AS employed
FROM public.qtr_employment_stats
WHERE quarter = $1 AND sector = $2
GROUP BY nationality, gender
ORDER BY employed DESC`;

const MEDIUM_YEAR_SQL = `
SELECT sector, nationality, sum(employed)::int AS employed, round(avg(avg_salary), 2)::float8 AS avg_salary
FROM public.qtr_employment_stats
WHERE quarter LIKE $1
GROUP BY sector, nationality
ORDER BY employed DESC
LIMIT 15`;

// work_permits has no index on status or expires_at: a sequential scan on purpose (the runbook's
// missing-index diagnostics should find it).
const MEDIUM_PERMITS_SQL = `
SELECT p.nationality, o.title AS occupation, count(*)::int AS permits
FROM public.work_permits p
JOIN public.occupations o USING (isco_code)
WHERE p.status = 'active' AND p.expires_at < now() + make_interval(days => $1::int)
GROUP BY p.nationality, o.title
ORDER BY permits DESC
LIMIT 15`;

// Year-over-year growth: an aggregate with a percentile, joined to itself one year back.
const COMPLEX_SQL = `
WITH by_q AS (
  SELECT quarter, sector, sum(employed)::int AS employed,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY avg_salary) AS median_salary
  FROM public.qtr_employment_stats
  WHERE gender = $1 AND nationality = ANY($2::text[])
  GROUP BY quarter, sector
)
SELECT cur.quarter, cur.sector, cur.employed, prev.employed AS prev_year_employed,
       round(100.0 * (cur.employed - prev.employed) / NULLIF(prev.employed, 0), 2)::float8 AS yoy_growth_pct,
       round(cur.median_salary::numeric, 2)::float8 AS median_salary
FROM by_q cur
JOIN by_q prev
  ON prev.sector = cur.sector
 AND prev.quarter = (split_part(cur.quarter, '-', 1)::int - 1)::text || '-' || split_part(cur.quarter, '-', 2)
ORDER BY yoy_growth_pct DESC NULLS LAST
LIMIT 20`;

/** `q_2026_000017`, `q_2026_007936`, …: distinct, stable, and realistic-looking ids. */
export function queryIdFor(index: number): string {
  return `q_2026_${String((index * 7919 + 17) % 1_000_000).padStart(6, '0')}`;
}

function at<T>(list: readonly T[], index: number): T {
  const value = list[((index % list.length) + list.length) % list.length];
  if (value === undefined) throw new Error('empty list');
  return value;
}

export class Catalog {
  readonly entries: readonly CatalogEntry[];
  /** Entries per type, in popularity order (rank 0 is asked most often). */
  readonly byType: Readonly<Record<QueryType, readonly CatalogEntry[]>>;

  constructor() {
    const entries: CatalogEntry[] = [];
    let n = 0;
    const latest = QUARTERS.length - 1;
    for (let i = 0; i < 20; i++) {
      const quarter = at(QUARTERS, latest - (i % 8));
      const sector = at(SECTORS, i * 5);
      entries.push({
        id: queryIdFor(n++),
        type: 'simple',
        question: `How many workers were employed in ${sector} in ${quarter}?`,
        sql: SIMPLE_SQL,
        params: [quarter, sector],
        sources: ['qtr_employment_stats'],
      });
    }
    for (let i = 0; i < 12; i++) {
      if (i % 3 === 2) {
        const days = 30 * (1 + (i % 4));
        entries.push({
          id: queryIdFor(n++),
          type: 'medium',
          question: `Active work permits expiring within ${days} days by nationality and occupation`,
          sql: MEDIUM_PERMITS_SQL,
          params: [days],
          sources: ['work_permits', 'occupations'],
        });
      } else {
        const year = 2025 - (i % 5);
        entries.push({
          id: queryIdFor(n++),
          type: 'medium',
          question: `Employment and average salary by sector and nationality in ${year}`,
          sql: MEDIUM_YEAR_SQL,
          params: [`${year}-%`],
          sources: ['qtr_employment_stats'],
        });
      }
    }
    for (let i = 0; i < 8; i++) {
      const gender = i % 2 === 0 ? 'Male' : 'Female';
      const nationalities = [at(NATIONALITIES, i), at(NATIONALITIES, i + 3), at(NATIONALITIES, i + 7)];
      entries.push({
        id: queryIdFor(n++),
        type: 'complex',
        question: `Year-over-year employment growth of ${gender.toLowerCase()} ${nationalities.join(', ')} workers by sector`,
        sql: COMPLEX_SQL,
        params: [gender, nationalities],
        sources: ['qtr_employment_stats'],
      });
    }
    this.entries = entries;
    this.byType = {
      simple: entries.filter((e) => e.type === 'simple'),
      medium: entries.filter((e) => e.type === 'medium'),
      complex: entries.filter((e) => e.type === 'complex'),
    };
  }

  /**
   * Maps free text from POST /api/v1/query to a catalog question: the type from keywords, the
   * entry from a hash of the text, so asking the same thing twice hits the cache.
   */
  forQuestion(question: string): CatalogEntry {
    const text = question.toLowerCase();
    const type: QueryType = /trend|growth|year.over.year|compare|forecast/.test(text)
      ? 'complex'
      : /\bby\b|breakdown|distribution|average|permit/.test(text)
        ? 'medium'
        : 'simple';
    const pool = this.byType[type];
    const hash = createHash('sha256').update(question).digest().readUInt32BE(0);
    return at(pool, hash);
  }
}

/** Samples ranks 0..n-1 with probability ∝ 1/(rank+1)^s: a few hot questions, a long tail. */
export class ZipfSampler {
  private readonly cdf: number[];

  constructor(n: number, s: number) {
    const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
    const total = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.cdf = weights.map((w) => {
      acc += w / total;
      return acc;
    });
  }

  sample(random: () => number = Math.random): number {
    const u = random();
    const i = this.cdf.findIndex((c) => u < c);
    return i === -1 ? this.cdf.length - 1 : i;
  }
}

// ---------------------------------------------------------------------------------------------
// Lab fault knobs. In-process on purpose: restarting the service clears them, as a restart
// clears "connection pool exhausted" or a leak in the real one.
// ---------------------------------------------------------------------------------------------

export const FaultsPatchSchema = z
  .object({
    /** Fraction of queries that fail with an application error (0..1). */
    error_rate: z.number().min(0).max(1),
    /** Which error patterns error_rate draws from (default: all). */
    error_reasons: z.array(z.enum(SYNTHETIC_REASONS)).min(1),
    /** Extra processing time added to every query (slow downstream / LLM step). */
    latency_ms: z.number().int().min(0).max(300_000),
    /** Memory the process retains per minute and never frees, up to LEAK_CAP_MB. */
    memory_leak_mb_per_min: z.number().min(0).max(60_000),
  })
  .partial()
  // A misspelt knob must be refused, not silently ignored while a drill waits for its effect.
  .strict();
export type FaultsPatch = z.infer<typeof FaultsPatchSchema>;

/** The leak stops growing here, so a forgotten knob cannot take the whole lab machine down. */
export const LEAK_CAP_MB = 1024;
const MIB = 1024 * 1024;

export interface SyntheticFailure {
  reason: SyntheticReason;
  message: string;
}

export class Faults {
  private errorRate = 0;
  private errorReasons: SyntheticReason[] = [...SYNTHETIC_REASONS];
  private latency = 0;
  private leakMbPerMin = 0;
  private leaked: Buffer[] = [];
  private leakedBytes = 0;
  private leakTimer: NodeJS.Timeout | undefined;

  private readonly poolSize: number;
  private readonly random: () => number;

  constructor(poolSize: number, random: () => number = Math.random) {
    this.poolSize = poolSize;
    this.random = random;
  }

  get latencyMs(): number {
    return this.latency;
  }

  apply(patch: FaultsPatch): void {
    if (patch.error_rate !== undefined) this.errorRate = patch.error_rate;
    if (patch.error_reasons !== undefined) this.errorReasons = [...new Set(patch.error_reasons)];
    if (patch.latency_ms !== undefined) this.latency = patch.latency_ms;
    if (patch.memory_leak_mb_per_min !== undefined) {
      this.leakMbPerMin = patch.memory_leak_mb_per_min;
      this.leakTimer ??= setInterval(() => this.leakOneSecond(), 1000);
    }
  }

  /** Back to no faults, leaked memory released (a lab reset; operators only have restarts). */
  reset(): void {
    this.stop();
    this.errorRate = 0;
    this.errorReasons = [...SYNTHETIC_REASONS];
    this.latency = 0;
    this.leakMbPerMin = 0;
    this.leaked = [];
    this.leakedBytes = 0;
  }

  stop(): void {
    clearInterval(this.leakTimer);
    this.leakTimer = undefined;
  }

  snapshot() {
    return {
      error_rate: this.errorRate,
      error_reasons: [...this.errorReasons],
      latency_ms: this.latency,
      memory_leak_mb_per_min: this.leakMbPerMin,
      leaked_mb: Math.round((this.leakedBytes / MIB) * 10) / 10,
    };
  }

  /** Null for most queries; for error_rate of them, an application error to fail with. */
  draw(queryId: string): SyntheticFailure | null {
    if (this.errorRate <= 0 || this.random() >= this.errorRate) return null;
    const reason = at(this.errorReasons, Math.floor(this.random() * this.errorReasons.length));
    return { reason, message: this.message(reason, queryId) };
  }

  /**
   * Messages from the patterns the real service logs. Numbers, ids and URLs vary so a
   * log-pattern grouper has to normalise them to find the one pattern behind an incident.
   */
  private message(reason: SyntheticReason, queryId: string): string {
    const int = (lo: number, hi: number) => lo + Math.floor(this.random() * (hi - lo + 1));
    const pick = <T>(list: readonly T[]) => at(list, Math.floor(this.random() * list.length));
    switch (reason) {
      case 'db_pool_exhausted':
        return `connection pool exhausted (pool size ${this.poolSize}, ${int(3, 48)} waiting)`;
      case 'redis_timeout':
        return `Redis timeout after 5000ms on GET ${CACHE_KEY_PREFIX}${queryId}`;
      case 'upstream_api': {
        const path = pick(['indicators', 'sectors', 'establishments', 'work-permits']);
        return `upstream API failure: GET https://lmis.mol.gov.qa/api/v2/${path}?quarter=${pick(QUARTERS.slice(-8))} returned ${pick([502, 503, 504])}`;
      }
      case 'internal':
        return this.random() < 0.5
          ? `KeyError: '${pick(['sector_code', 'isco_code', 'nationality_group'])}' in aggregate_by_${pick(['sector', 'nationality', 'quarter'])} (row ${int(1, 50_000)})`
          : `ValueError: could not convert string to float: 'N/A' (column avg_salary, row ${int(1, 50_000)})`;
      default:
        return assertNever(reason);
    }
  }

  private leakOneSecond(): void {
    if (this.leakMbPerMin <= 0) return;
    const bytes = Math.min(Math.round((this.leakMbPerMin * MIB) / 60), LEAK_CAP_MB * MIB - this.leakedBytes);
    if (bytes <= 0) return;
    // allocUnsafe + fill touches every page, so the growth shows in RSS
    // (process_resident_memory_bytes); a zeroed allocation may stay untouched virtual memory.
    this.leaked.push(Buffer.allocUnsafe(bytes).fill(0x51));
    this.leakedBytes += bytes;
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}

// ---------------------------------------------------------------------------------------------
// The query path.
// ---------------------------------------------------------------------------------------------

/** A failure already classified for qnwis_errors_total. */
export class QueryFailure extends Error {
  readonly reason: ErrorReason;

  constructor(reason: ErrorReason, message: string) {
    super(message);
    this.name = 'QueryFailure';
    this.reason = reason;
  }
}

export type QueryOutcome =
  | {
      ok: true;
      queryId: string;
      type: QueryType;
      userId: string;
      cache: 'hit' | 'miss';
      rows: unknown[];
      durationMs: number;
    }
  | {
      ok: false;
      queryId: string;
      type: QueryType;
      userId: string;
      reason: ErrorReason;
      message: string;
      durationMs: number;
    };

export interface QueryEngineOptions {
  host: string;
  cacheTtlSec: number;
  pool: Pool;
  redis: Redis;
  logs: LogFiles;
  metrics: AppMetrics;
  faults: Faults;
}

export class QueryEngine {
  private readonly inFlight = new Set<Promise<QueryOutcome>>();
  private readonly cancel = new AbortController();
  private readonly auditWarnings = new Throttle(30_000);
  private readonly opts: QueryEngineOptions;

  constructor(opts: QueryEngineOptions) {
    this.opts = opts;
  }

  /** Runs one question end to end. Never rejects: failures are outcomes (already logged). */
  run(entry: CatalogEntry, userId: string, source: 'load' | 'api'): Promise<QueryOutcome> {
    const p = this.execute(entry, userId, source);
    this.inFlight.add(p);
    const forget = () => void this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** For shutdown: cuts injected delays short and waits (bounded) for running queries. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.cancel.abort();
    const all = Promise.allSettled([...this.inFlight]).then(() => true);
    const timer = sleep(timeoutMs, false, { ref: false });
    return Promise.race([all, timer]);
  }

  private async execute(entry: CatalogEntry, userId: string, source: 'load' | 'api'): Promise<QueryOutcome> {
    const { logs, metrics } = this.opts;
    const started = performance.now();
    let outcome: QueryOutcome;
    try {
      const answer = await this.answer(entry);
      const durationMs = Math.round(performance.now() - started);
      outcome = { ok: true, queryId: entry.id, type: entry.type, userId, ...answer, durationMs };
      metrics.querySucceeded(entry.type, durationMs / 1000);
      logs.app(
        'INFO',
        'qnwis.query',
        `query completed query_id=${entry.id} user_id=${userId} type=${entry.type} cache=${answer.cache} duration_ms=${durationMs} rows=${answer.rows.length}`,
        {
          query_id: entry.id,
          user_id: userId,
          type: entry.type,
          cache: answer.cache,
          duration_ms: durationMs,
          rows: answer.rows.length,
          source,
        },
      );
    } catch (err) {
      const failure = err instanceof QueryFailure ? err : new QueryFailure('internal', describeError(err));
      const durationMs = Math.round(performance.now() - started);
      outcome = {
        ok: false,
        queryId: entry.id,
        type: entry.type,
        userId,
        reason: failure.reason,
        message: failure.message,
        durationMs,
      };
      metrics.queryFailed(entry.type, failure.reason, durationMs / 1000);
      logs.error(
        'qnwis.query',
        `query failed: ${failure.message} query_id=${entry.id} user_id=${userId} type=${entry.type} reason=${failure.reason} duration_ms=${durationMs}`,
        {
          query_id: entry.id,
          user_id: userId,
          type: entry.type,
          reason: failure.reason,
          error: failure.message,
          duration_ms: durationMs,
          source,
        },
      );
    }
    await this.audit(outcome);
    return outcome;
  }

  private async answer(entry: CatalogEntry): Promise<{ cache: 'hit' | 'miss'; rows: unknown[] }> {
    const { redis, pool, metrics, faults } = this.opts;
    const injected = faults.draw(entry.id);
    if (faults.latencyMs > 0) {
      try {
        await sleep(faults.latencyMs, undefined, { signal: this.cancel.signal });
      } catch {
        throw new QueryFailure('internal', 'query cancelled: server shutting down');
      }
    }
    if (injected) throw new QueryFailure(injected.reason, injected.message);

    const key = `${CACHE_KEY_PREFIX}${entry.id}`;
    let cached: string | null;
    try {
      cached = await redis.get(key);
    } catch (err) {
      metrics.cacheLookup('error');
      throw new QueryFailure('redis_unavailable', `Redis error on GET ${key}: ${describeError(err)}`);
    }
    if (cached !== null) {
      const rows = cachedRows(cached);
      if (rows) {
        metrics.cacheLookup('hit');
        return { cache: 'hit', rows };
      }
    }
    metrics.cacheLookup('miss');

    const sqlStarted = performance.now();
    let rows: unknown[];
    try {
      rows = (await pool.query(entry.sql, [...entry.params])).rows;
    } catch (err) {
      throw classifyDbError(err);
    }
    metrics.dbQuery((performance.now() - sqlStarted) / 1000);

    try {
      await redis.set(key, this.payload(entry, rows), 'EX', this.opts.cacheTtlSec);
    } catch (err) {
      // The answer is good; only caching it failed (e.g. Redis at maxmemory with noeviction).
      metrics.cacheWriteFailed();
      this.opts.logs.app(
        'WARNING',
        'qnwis.cache',
        `cache write failed query_id=${entry.id} key=${key} error=${kv(describeError(err))}`,
        { query_id: entry.id, key, error: describeError(err) },
      );
    }
    return { cache: 'miss', rows };
  }

  /** The cached answer: rows plus the metadata the real service stores, about 2 KB of JSON. */
  private payload(entry: CatalogEntry, rows: unknown[]): string {
    const body = {
      query_id: entry.id,
      type: entry.type,
      question: entry.question,
      answered_by: this.opts.host,
      generated_at: new Date().toISOString(),
      sources: entry.sources,
      row_count: rows.length,
      rows,
      narrative: '',
    };
    const room = 2048 - Buffer.byteLength(JSON.stringify(body));
    if (room > 0) body.narrative = NARRATIVE.repeat(Math.ceil(room / NARRATIVE.length)).slice(0, room);
    return JSON.stringify(body);
  }

  /** One row per query in audit.query_log, and its audit.log line. Best effort: never throws. */
  private async audit(outcome: QueryOutcome): Promise<void> {
    const { logs, pool } = this.opts;
    const status = outcome.ok ? 'ok' : 'error';
    const fields: Fields = {
      user_id: outcome.userId,
      query_id: outcome.queryId,
      type: outcome.type,
      status,
      duration_ms: outcome.durationMs,
    };
    logs.audit(
      'query',
      `query executed user_id=${outcome.userId} query_id=${outcome.queryId} type=${outcome.type} status=${status} duration_ms=${outcome.durationMs}`,
      fields,
    );
    try {
      await pool.query(
        'INSERT INTO audit.query_log (user_id, query_id, query_type, status, duration_ms) VALUES ($1, $2, $3, $4, $5)',
        [outcome.userId, outcome.queryId, outcome.type, status, outcome.durationMs],
      );
      this.auditWarnings.reset('insert');
    } catch (err) {
      // During a database outage every query lands here; one line per 30 s says it all.
      const suppressed = this.auditWarnings.admit('insert');
      if (suppressed === null) return;
      logs.app(
        'WARNING',
        'qnwis.audit',
        `audit write failed query_id=${outcome.queryId} error=${kv(describeError(err))}`,
        { query_id: outcome.queryId, error: describeError(err), suppressed },
      );
    }
  }
}

const NARRATIVE =
  'Figures are drawn from quarterly LMIS administrative records (employment contracts, work ' +
  'permits and establishment registrations) and aggregated by sector, nationality and gender. ' +
  'Salaries are monthly averages in QAR before deductions. ';

function cachedRows(raw: string): unknown[] | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === 'object' && value !== null && 'rows' in value && Array.isArray(value.rows)) {
      return value.rows;
    }
  } catch {
    // Not our JSON (written by hand?): treat as a miss and overwrite it.
  }
  return null;
}

/** Error text that is never empty (Node's AggregateError for ECONNREFUSED has no message). */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describeError(err.errors[0]);
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}

const DB_UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);

/** Sorts a pg/node error into the reason label operators filter on. */
export function classifyDbError(err: unknown): QueryFailure {
  const message = describeError(err);
  const inner = err instanceof AggregateError ? err.errors[0] : err;
  const code = typeof inner === 'object' && inner !== null ? (inner as { code?: unknown }).code : undefined;
  if (code === '57014') return new QueryFailure('statement_timeout', message);
  if (typeof code === 'string') {
    // SQLSTATE class 08 (connection exception), 57P01-03 (shutdown, crash, cannot connect now),
    // 53300 (too many connections): the database is not serving us.
    if (
      code.startsWith('08') ||
      /^57P0[1-3]$/.test(code) ||
      code === '53300' ||
      DB_UNAVAILABLE_ERRNO.has(code)
    ) {
      return new QueryFailure('db_unavailable', message);
    }
  }
  // node-pg's own connection failures carry no code.
  if (
    /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable/i.test(
      message,
    )
  ) {
    return new QueryFailure('db_unavailable', message);
  }
  return new QueryFailure('db_error', message);
}

// ---------------------------------------------------------------------------------------------
// The built-in load: the analysts.
// ---------------------------------------------------------------------------------------------

export interface LoadGeneratorOptions {
  intervalMs: number;
  /** Queries of the load running at once, at most; ticks beyond it are skipped (users give up). */
  maxInFlight: number;
  catalog: Catalog;
  engine: QueryEngine;
  logs: LogFiles;
  maintenance: () => boolean;
  random?: () => number;
}

/** Traffic mix: simple 60 %, medium 30 %, complex 10 %. */
const TYPE_WEIGHTS: ReadonlyArray<readonly [QueryType, number]> = [
  ['simple', 0.6],
  ['medium', 0.3],
  ['complex', 0.1],
];
const USERS = 25;
/** Per tick: chance of a failed login in audit.log and of a rate-limit hit in app.log. */
const SECURITY_EVENT_CHANCE = 1 / 200;

export class LoadGenerator {
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private readonly random: () => number;
  private readonly samplers: Record<QueryType, ZipfSampler>;
  private readonly users = new ZipfSampler(USERS, 0.8);
  private readonly opts: LoadGeneratorOptions;

  constructor(opts: LoadGeneratorOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.samplers = {
      simple: new ZipfSampler(opts.catalog.byType.simple.length, 1.1),
      medium: new ZipfSampler(opts.catalog.byType.medium.length, 1.1),
      complex: new ZipfSampler(opts.catalog.byType.complex.length, 1.1),
    };
  }

  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    // Not awaited one by one: queries overlap like independent users, up to maxInFlight.
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    // In maintenance the analysts get 503 at the door: no queries, no security noise.
    if (this.opts.maintenance()) return;
    this.securityNoise();
    if (this.running >= this.opts.maxInFlight) return;
    const type = this.pickType();
    const pool = this.opts.catalog.byType[type];
    const entry = at(pool, this.samplers[type].sample(this.random));
    const userId = `analyst_${1 + this.users.sample(this.random)}`;
    this.running += 1;
    const done = () => {
      this.running -= 1;
    };
    this.opts.engine.run(entry, userId, 'load').then(done, done);
  }

  private pickType(): QueryType {
    let u = this.random();
    for (const [type, weight] of TYPE_WEIGHTS) {
      if (u < weight) return type;
      u -= weight;
    }
    return QUERY_TYPES[0];
  }

  /** Rare failed logins and rate-limit hits, so the runbook's security greps find something. */
  private securityNoise(): void {
    const { logs } = this.opts;
    const ip = () => `10.20.${Math.floor(this.random() * 256)}.${1 + Math.floor(this.random() * 254)}`;
    if (this.random() < SECURITY_EVENT_CHANCE) {
      const userId = `analyst_${1 + this.users.sample(this.random)}`;
      const reason = at(['invalid_token', 'expired_token', 'unknown_user'], Math.floor(this.random() * 3));
      const remote = ip();
      logs.audit(
        'auth',
        `authentication failed user_id=${userId} reason=${reason} remote_addr=${remote}`,
        { user_id: userId, reason, remote_addr: remote },
        'WARNING',
      );
    }
    if (this.random() < SECURITY_EVENT_CHANCE) {
      const userId = `analyst_${1 + this.users.sample(this.random)}`;
      const remote = ip();
      logs.app(
        'WARNING',
        'qnwis.ratelimit',
        `rate_limit_exceeded user_id=${userId} limit=60/min endpoint=/api/v1/query remote_addr=${remote}`,
        { user_id: userId, limit: '60/min', endpoint: '/api/v1/query', remote_addr: remote },
      );
    }
  }
}
