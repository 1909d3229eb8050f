/**
 * `flush-cache KEY` and `flush-cache --pattern P [--max-keys N]` — runbook "Redis Operations":
 * `DEL qnwis:cache:query:q_2024_001234` ("Clear specific cache"), and the same for every key of a
 * pattern without `KEYS` (which blocks the server for the whole key space).
 *
 * Every key and pattern lies inside the inventory's cache key space (the catalog checks the
 * arguments; the FleetCache adapter checks again before anything is sent). Deletes go to the cache
 * primary (the redis host answering as master); the replicas follow it.
 *
 * - plan (key): the key, whether it exists now, its type and TTL; one step, UNLINK (DEL without
 *   blocking the server on a large value).
 * - plan (pattern): the pattern, the cap, the batch size; how many keys match now (SCAN, counted up
 *   to a cap) with a few examples; one step, SCAN + UNLINK in batches, stopping at the cap.
 * - precheck: the planned host is still the cache primary; says what matches now. A changed count
 *   is no reason to refuse (see `Observed`).
 * - run (pattern): progress per batch; Cancel stops between batches; stops at `maxKeys` and says
 *   whether the cap was hit.
 * - verify: EXISTS = 0 for a key; for a pattern, SCAN finds no matching key, or the remainder the
 *   cap left, or only keys written since the flush began.
 */
import type { Host } from '../../inventory.js';
import { formatDuration, oneLine, plural } from '../diagnostics/common.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import {
  countKeys,
  findCachePrimary,
  type KeyCount,
  keysText,
  redisHost,
  stillPrimary,
} from './cache-common.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandOutcome,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type ProgressReporter,
  type VerifyResult,
} from './types.js';

export type FlushCacheArgs = CommandArgs['flush-cache'];

type Common = {
  /** The cache primary the deletes go to. */
  readonly host: string;
  readonly db: number;
  /** The inventory's cache key space (the fence). */
  readonly keyPattern: string;
  /** The other redis hosts (replicas follow the primary). */
  readonly others: readonly string[];
};

/*
 * Why the plan-time observations live in `facts.observed` and nowhere else: the approvers must see
 * how much they are approving (does the key exist, how many keys match now), but the cache changes
 * every second (the app writes and expires keys as it serves). The steps, summary and blast radius
 * are therefore made only from the request and the inventory (pattern, cap, batch size, hosts), and
 * the precheck never compares the observed numbers: a count that moved between the plan and the
 * approval does not make the approved command wrong — the cap, not the count, bounds what it may
 * delete. The observations are a snapshot for people, kept beside the plan they explain.
 */
export type KeyObserved = {
  readonly exists: boolean;
  /** `string`, `hash`, …; null when the key does not exist. */
  readonly type: string | null;
  /** Whole seconds left; null when it has no expiry or does not exist. */
  readonly ttlSec: number | null;
};

export type PatternObserved = {
  readonly matching: number;
  /** False when the count stopped at the plan's counting cap: at least `matching` keys match. */
  readonly complete: boolean;
  /** A few matching keys, sorted. */
  readonly examples: readonly string[];
};

export type FlushKeyFacts = Common & {
  readonly kind: 'key';
  readonly key: string;
  readonly observed: KeyObserved;
};

export type FlushPatternFacts = Common & {
  readonly kind: 'pattern';
  readonly pattern: string;
  /** The most keys the run deletes. */
  readonly maxKeys: number;
  /** Keys per UNLINK (one progress report each). */
  readonly batchSize: number;
  /** SCAN's COUNT hint per round trip. */
  readonly scanCount: number;
  /** The step's time bound. */
  readonly timeoutSec: number;
  readonly observed: PatternObserved;
};

export type FlushCacheFacts = FlushKeyFacts | FlushPatternFacts;
export type FlushCachePlan = CommandPlan<FlushCacheFacts>;

export interface FlushCacheOptions {
  /** Keys per UNLINK in a pattern flush (default 500: at most 20 progress reports at the 10 000 cap). */
  readonly batchSize?: number;
  /** SCAN COUNT hint (default 1000). */
  readonly scanCount?: number;
  /** Matching keys counted at most, for the plan and the verification (default 10 000). */
  readonly countCap?: number;
  /** How long a pattern flush may take before it stops (default 300 s). */
  readonly timeoutSec?: number;
}

export const FLUSH_CACHE_DEFAULTS = {
  batchSize: 500,
  scanCount: 1000,
  countCap: 10_000,
  timeoutSec: 300,
} as const;
/** SCAN round trips one run may make (COUNT 1000 → a 20-million-key database). */
const MAX_SCAN_CALLS = 20_000;
const EXAMPLES = 5;
/** Deleted keys the run keeps for the thread. */
const SAMPLE_DELETED = 10;

function ttlText(o: KeyObserved): string {
  if (!o.exists) return 'does not exist now';
  return `exists (${o.type ?? 'unknown type'}, ${o.ttlSec === null ? 'no expiry' : `TTL ${o.ttlSec} s`})`;
}

function replicasText(others: readonly string[]): string {
  return others.length === 0 ? '' : `; ${others.join(', ')} follow${others.length === 1 ? 's' : ''} it`;
}

/** Precheck and verification need the planned host to still be a redis host of the inventory. */
function plannedHost(ctx: CommandContext, f: FlushCacheFacts): Host | string {
  return redisHost(ctx.inventory, f.host);
}

function sameRequest(args: FlushCacheArgs, f: FlushCacheFacts): string | undefined {
  if (args.kind === 'key')
    return f.kind === 'key' && f.key === args.key ? undefined : 'the plan is not for this key';
  if (f.kind !== 'pattern' || f.pattern !== args.pattern || f.maxKeys !== args.maxKeys)
    return 'the plan is not for this pattern and cap';
  return undefined;
}

async function cacheEvidence(ctx: CommandContext, host: string): Promise<DiagnosticResult[]> {
  const [stats] = await runDiagnostics(ctx, [
    { diagnostic: 'redis-stats', target: host, input: { sampleMs: 0 } },
  ]);
  return stats ? [stats] : [];
}

async function safeReport(report: ProgressReporter, stepId: string, detail: string): Promise<void> {
  try {
    await report({ stepId, status: 'running', detail });
  } catch {
    // A lost progress line never stops the flush half-way (see ProgressReporter).
  }
}

export function createFlushCacheCommand(
  opts: FlushCacheOptions = {},
): CommandModule<FlushCacheArgs, FlushCacheFacts> {
  const batchSize = opts.batchSize ?? FLUSH_CACHE_DEFAULTS.batchSize;
  const scanCount = opts.scanCount ?? FLUSH_CACHE_DEFAULTS.scanCount;
  const countCap = opts.countCap ?? FLUSH_CACHE_DEFAULTS.countCap;
  const timeoutSec = opts.timeoutSec ?? FLUSH_CACHE_DEFAULTS.timeoutSec;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    throw new RangeError('batchSize must be 1..10000');
  if (!Number.isInteger(scanCount) || scanCount < 1 || scanCount > 10_000)
    throw new RangeError('scanCount must be 1..10000');
  if (!Number.isInteger(countCap) || countCap < 1 || countCap > 100_000)
    throw new RangeError('countCap must be 1..100000');
  if (!Number.isInteger(timeoutSec) || timeoutSec < 1 || timeoutSec > 3600)
    throw new RangeError('timeoutSec must be 1..3600');

  /** SCAN + UNLINK in batches, until the cursor comes back, the cap, the deadline or a cancel. */
  async function scanDelete(
    ctx: CommandContext,
    f: FlushPatternFacts,
    report: ProgressReporter,
    signal: AbortSignal,
    seen: PatternRun,
  ): Promise<StepResult> {
    const host = plannedHost(ctx, f);
    if (typeof host === 'string') return { status: 'failed', detail: host };
    const started = ctx.now().getTime();
    const deadline = started + f.timeoutSec * 1000;
    const queued = new Set<string>();
    let pending: string[] = [];
    let cursor = '0';

    const flush = async () => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      const removed = await ctx.cache.deleteKeys(host, batch);
      seen.sent += batch.length;
      seen.deleted += removed;
      seen.batches += 1;
      for (const k of batch) if (seen.sampleDeleted.length < SAMPLE_DELETED) seen.sampleDeleted.push(k);
      await safeReport(
        report,
        'scan-delete',
        `batch ${seen.batches}: ${plural(seen.deleted, 'key')} deleted so far (cap ${f.maxKeys})`,
      );
    };
    const summary = () =>
      `${plural(seen.deleted, 'key')} deleted in ${plural(seen.batches, 'batch', 'batches')}` +
      (seen.sent > seen.deleted ? ` (${seen.sent - seen.deleted} had expired before their batch)` : '');

    do {
      if (signal.aborted) {
        return {
          status: 'cancelled',
          detail: `cancelled after ${summary()}; matching keys not yet deleted were kept`,
        };
      }
      if (ctx.now().getTime() >= deadline) {
        await flush();
        return {
          status: 'failed',
          detail: `stopped after ${f.timeoutSec} s: ${summary()}; more keys may match`,
        };
      }
      const page = await ctx.cache.scanPage(host, f.pattern, cursor, f.scanCount);
      seen.scanCalls += 1;
      cursor = page.cursor;
      for (const key of page.keys) {
        // SCAN may return a key twice while the table is rehashed.
        if (queued.has(key)) continue;
        if (queued.size >= f.maxKeys) {
          seen.capped = true;
          break;
        }
        queued.add(key);
        pending.push(key);
        if (pending.length >= f.batchSize) await flush();
      }
      if (seen.capped) break;
    } while (cursor !== '0' && seen.scanCalls < MAX_SCAN_CALLS);
    await flush();
    seen.scanComplete = cursor === '0' && !seen.capped;
    const took = formatDuration(ctx.now().getTime() - started);
    if (seen.capped) {
      return {
        status: 'done',
        detail: `${summary()} in ${took}; stopped at the cap of ${f.maxKeys}: more keys match ${f.pattern}`,
      };
    }
    if (cursor !== '0') {
      return {
        status: 'done',
        detail: `${summary()} in ${took}; the scan stopped after ${seen.scanCalls} round trips: more keys may match`,
      };
    }
    return { status: 'done', detail: `${summary()} in ${took}; no other key matched ${f.pattern}` };
  }

  return {
    name: 'flush-cache',

    async plan(ctx, args): Promise<FlushCachePlan> {
      const primary = await findCachePrimary(ctx);
      if (!primary.ok) throw new PlanRefusedError('flush-cache', primary.reason);
      const { host, others } = primary;
      const common: Common = {
        host: host.name,
        db: ctx.inventory.cache.db,
        keyPattern: ctx.inventory.cache.keyPattern,
        others,
      };
      const where = `${host.name} (db ${common.db})`;
      if (args.kind === 'key') {
        let info: Awaited<ReturnType<typeof ctx.cache.keyInfo>>;
        try {
          info = await ctx.cache.keyInfo(host, args.key);
        } catch (err) {
          throw new PlanRefusedError(
            'flush-cache',
            `cannot read ${args.key} on ${host.name}: ${errorText(err)}`,
          );
        }
        const observed: KeyObserved = {
          exists: info.exists,
          type: info.type,
          ttlSec: info.ttlMs === null ? null : Math.ceil(info.ttlMs / 1000),
        };
        return {
          command: 'flush-cache',
          summary: `flush-cache ${args.key}`,
          steps: [
            {
              id: 'delete',
              host: host.name,
              kind: 'remote-command',
              description: `UNLINK ${args.key} on ${where}: DEL without blocking the server; no other key is touched`,
            },
          ],
          blastRadius:
            `1 cache key (${args.key}) on the cache primary ${where}${replicasText(others)}; ` +
            'the app recomputes that answer on its next request',
          facts: { ...common, kind: 'key', key: args.key, observed },
        };
      }

      let count: KeyCount;
      try {
        count = await countKeys(ctx.cache, host, args.pattern, { cap: countCap, examples: EXAMPLES });
      } catch (err) {
        throw new PlanRefusedError(
          'flush-cache',
          `cannot scan ${args.pattern} on ${host.name}: ${errorText(err)}`,
        );
      }
      const batches = Math.ceil(args.maxKeys / batchSize);
      return {
        command: 'flush-cache',
        summary: `flush-cache --pattern ${args.pattern} (at most ${args.maxKeys} keys)`,
        steps: [
          {
            id: 'scan-delete',
            host: host.name,
            kind: 'remote-command',
            description:
              `SCAN ${where} MATCH ${args.pattern} COUNT ${scanCount} (never KEYS), UNLINK the matching keys ` +
              `in batches of up to ${batchSize} (at most ${plural(batches, 'batch', 'batches')}); stop after ${args.maxKeys} keys`,
            timeoutSec,
          },
        ],
        blastRadius:
          `at most ${args.maxKeys} cache keys matching ${args.pattern} on the cache primary ${where}` +
          `${replicasText(others)}; keys outside the pattern are untouched; ` +
          'the app recomputes those answers on their next request',
        facts: {
          ...common,
          kind: 'pattern',
          pattern: args.pattern,
          maxKeys: args.maxKeys,
          batchSize,
          scanCount,
          timeoutSec,
          observed: { matching: count.count, complete: count.complete, examples: count.examples },
        },
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      const mismatch = sameRequest(args, f);
      if (mismatch) return { ok: false, reason: mismatch };
      const primary = await stillPrimary(ctx, f.host);
      if (!primary.ok) return primary;
      try {
        if (f.kind === 'key') {
          const info = await ctx.cache.keyInfo(primary.host, f.key);
          return {
            ok: true,
            detail: info.exists
              ? `${f.key} exists on ${f.host}`
              : `${f.key} no longer exists on ${f.host} (expired or deleted since the plan): the delete will find nothing`,
          };
        }
        const now = await countKeys(ctx.cache, primary.host, f.pattern, { cap: countCap });
        const then = keysText({ count: f.observed.matching, complete: f.observed.complete });
        return {
          ok: true,
          detail:
            `${keysText(now)} match ${f.pattern} on ${f.host} now (${then} at plan time)` +
            (now.count > f.maxKeys || !now.complete ? `; the cap stops the run after ${f.maxKeys}` : ''),
        };
      } catch (err) {
        return { ok: false, reason: `cannot read the cache on ${f.host}: ${errorText(err)}` };
      }
    },

    async run(ctx, _args, plan, report, signal): Promise<CommandOutcome> {
      const f = plan.facts;
      if (f.kind === 'key') {
        let removed: number | null = null;
        let deletedAt: string | null = null;
        return runSteps({
          plan,
          report,
          signal,
          observations: () => ({ removed, deletedAt }),
          handlers: {
            delete: async () => {
              const host = plannedHost(ctx, f);
              if (typeof host === 'string') return { status: 'failed', detail: host };
              removed = await ctx.cache.deleteKeys(host, [f.key]);
              deletedAt = ctx.now().toISOString();
              return {
                status: 'done',
                detail:
                  removed > 0
                    ? `deleted ${f.key} on ${f.host}`
                    : `${f.key} did not exist on ${f.host} (expired or deleted since the plan): nothing to delete`,
              };
            },
          },
        });
      }
      const seen: PatternRun = {
        sent: 0,
        deleted: 0,
        batches: 0,
        scanCalls: 0,
        capped: false,
        scanComplete: false,
        sampleDeleted: [],
      };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ ...seen, sampleDeleted: [...seen.sampleDeleted] }),
        handlers: { 'scan-delete': (s) => scanDelete(ctx, f, report, s, seen) },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const host = plannedHost(ctx, f);
      if (typeof host === 'string') return { ok: false, after: host, detail: host, evidence: [] };
      const evidence = await cacheEvidence(ctx, f.host);
      if (f.kind === 'key') {
        const before = `${f.key} ${ttlText(f.observed)} (at plan time)`;
        let exists: boolean;
        let ttl: string;
        try {
          const info = await ctx.cache.keyInfo(host, f.key);
          exists = info.exists;
          ttl = info.ttlMs === null ? 'no expiry' : `TTL ${Math.ceil(info.ttlMs / 1000)} s`;
        } catch (err) {
          const why = `cannot read ${f.key} on ${f.host}: ${errorText(err)}`;
          return { ok: false, before, after: why, detail: why, evidence };
        }
        if (!exists) {
          return {
            ok: true,
            before,
            after: `EXISTS ${f.key} = 0`,
            detail: `${f.key} is gone from ${f.host}`,
            evidence,
          };
        }
        // UNLINK's reply is authoritative: a key that exists again was written after it.
        const ran = outcome.status === 'succeeded';
        return {
          ok: ran,
          before,
          after: `EXISTS ${f.key} = 1 (${ttl})`,
          detail: ran
            ? `${f.key} was deleted and has been written again since (the app caches it on its next request)`
            : `${f.key} still exists: the delete did not run (${outcome.detail})`,
          evidence,
        };
      }

      const o = outcome.observations;
      const num = (v: unknown) => (typeof v === 'number' ? v : 0);
      const deleted = num(o.deleted);
      const capped = o.capped === true;
      const complete = o.scanComplete === true;
      const before =
        `${keysText({ count: f.observed.matching, complete: f.observed.complete })} matched ${f.pattern} at plan time; ` +
        `${plural(deleted, 'key')} deleted`;
      let now: KeyCount;
      try {
        now = await countKeys(ctx.cache, host, f.pattern, { cap: countCap, examples: EXAMPLES });
      } catch (err) {
        const why = `cannot scan ${f.pattern} on ${f.host}: ${errorText(err)}`;
        return { ok: false, before, after: why, detail: why, evidence };
      }
      const after = oneLine(
        `${keysText(now)} match ${f.pattern} on ${f.host}` +
          (now.examples.length > 0 ? ` (e.g. ${now.examples.join(', ')})` : ''),
        500,
      );
      if (now.count === 0) {
        return { ok: true, before, after, detail: `no key matches ${f.pattern} any more`, evidence };
      }
      if (capped) {
        return {
          ok: true,
          before,
          after,
          detail: `the cap of ${f.maxKeys} was hit: ${keysText(now)} still match; run it again to delete more`,
          evidence,
        };
      }
      if (outcome.status === 'succeeded' && complete) {
        // SCAN returns every key present for the whole iteration, and each one returned was deleted.
        return {
          ok: true,
          before,
          after,
          detail: `${keysText(now)} match again: written after the flush began (the app caches as it serves)`,
          evidence,
        };
      }
      return {
        ok: false,
        before,
        after,
        detail: oneLine(`${keysText(now)} still match: the flush did not finish (${outcome.detail})`, 600),
        evidence,
      };
    },
  };
}

/** What a pattern flush did, as it goes (the run's observations). */
type PatternRun = {
  sent: number;
  deleted: number;
  batches: number;
  scanCalls: number;
  capped: boolean;
  scanComplete: boolean;
  sampleDeleted: string[];
};

/** `flush-cache` with the defaults (batches of 500, counted up to 10 000). */
export const flushCache = createFlushCacheCommand();
