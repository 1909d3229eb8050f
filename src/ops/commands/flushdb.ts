/**
 * `flushdb` — runbook "Redis Operations": `FLUSHDB` ("Clear all cache (use with caution!)"), on the
 * cache primary's configured database only (never FLUSHALL: other databases of the server are not
 * the cache's). Two approvals, at least one L2+ (the catalog's rule).
 *
 * - plan: the cache primary (the redis host answering as master), its db index, DBSIZE now and how
 *   many of those keys are cache keys (the rest, e.g. the app's fleet-wide maintenance flag, go too).
 * - precheck: the planned host is still the primary; no app host reports maintenance mode (the app
 *   keeps that flag in this database, so a flush would end the maintenance everywhere).
 * - run: DBSIZE, FLUSHDB ASYNC, DBSIZE in one transaction.
 * - verify: DBSIZE now (any key there was written after the flush, which the transaction saw leave
 *   0 keys), the `health` of every app host, and `redis-stats` of the primary.
 */
import { hostsWithRole } from '../../inventory.js';
import { formatDuration, oneLine, plural } from '../diagnostics/common.js';
import type { HealthData } from '../diagnostics/health.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import { countKeys, findCachePrimary, keysText, redisHost, stillPrimary } from './cache-common.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type FlushDbArgs = CommandArgs['flushdb'];

export type FlushDbFacts = {
  /** The cache primary. */
  readonly host: string;
  readonly db: number;
  readonly keyPattern: string;
  /** The other redis hosts (replicas follow the primary). */
  readonly others: readonly string[];
  /** App hosts whose health the verification checks. */
  readonly appHosts: readonly string[];
  /**
   * A snapshot for the approvers, never compared by the precheck: the cache changes every second,
   * and the approval is for emptying the database, whatever it holds by then.
   */
  readonly observed: {
    readonly dbsize: number;
    /** Keys inside the cache key space, counted up to a cap. */
    readonly cacheKeys: number;
    readonly cacheKeysComplete: boolean;
  };
};

export type FlushDbPlan = CommandPlan<FlushDbFacts>;

/** Cache keys counted at most for the plan. */
const COUNT_CAP = 10_000;

function maintenanceHosts(results: readonly DiagnosticResult[]): string[] {
  return results
    .filter((r) => (r.data as HealthData | undefined)?.health.maintenance === true)
    .map((r) => r.target);
}

async function appHealth(ctx: CommandContext, hosts: readonly string[]): Promise<DiagnosticResult[]> {
  return runDiagnostics(
    ctx,
    hosts.map((target) => ({ diagnostic: 'health', target })),
  );
}

export function createFlushDbCommand(): CommandModule<FlushDbArgs, FlushDbFacts> {
  return {
    name: 'flushdb',

    async plan(ctx): Promise<FlushDbPlan> {
      const primary = await findCachePrimary(ctx);
      if (!primary.ok) throw new PlanRefusedError('flushdb', primary.reason);
      const { host, others } = primary;
      const { db, keyPattern } = ctx.inventory.cache;
      let dbsize: number;
      let cache: Awaited<ReturnType<typeof countKeys>>;
      try {
        [dbsize, cache] = await Promise.all([
          ctx.cache.dbSize(host),
          countKeys(ctx.cache, host, keyPattern, { cap: COUNT_CAP }),
        ]);
      } catch (err) {
        throw new PlanRefusedError('flushdb', `cannot read ${host.name}: ${errorText(err)}`);
      }
      const appHosts = hostsWithRole(ctx.inventory, 'app').map((h) => h.name);
      const where = `${host.name} (${host.address}:${ctx.inventory.cache.port}, db ${db})`;
      return {
        command: 'flushdb',
        summary: `flushdb on ${host.name} db ${db}`,
        steps: [
          {
            id: 'flushdb',
            host: host.name,
            kind: 'remote-command',
            description:
              `FLUSHDB ASYNC on the cache primary ${where}, between two DBSIZE in one transaction; ` +
              'never FLUSHALL',
          },
        ],
        blastRadius:
          `every key in db ${db} of the cache primary ${host.name}: the whole cache (${keyPattern}) and ` +
          `anything else kept there, such as the app's maintenance flag` +
          (others.length > 0 ? `; ${others.join(', ')} follow${others.length === 1 ? 's' : ''} it` : '') +
          `; other databases on the server are untouched; until the cache refills, queries of all ` +
          `${plural(appHosts.length, 'app host')} go to the database`,
        facts: {
          host: host.name,
          db,
          keyPattern,
          others,
          appHosts,
          observed: { dbsize, cacheKeys: cache.count, cacheKeysComplete: cache.complete },
        },
      };
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (ctx.inventory.cache.db !== f.db)
        return {
          ok: false,
          reason: `the inventory's cache db is now ${ctx.inventory.cache.db}, not ${f.db}: plan again`,
        };
      const primary = await stillPrimary(ctx, f.host);
      if (!primary.ok) return primary;
      const health = await appHealth(ctx, f.appHosts);
      const inMaintenance = maintenanceHosts(health);
      if (inMaintenance.length > 0) {
        return {
          ok: false,
          reason:
            `maintenance mode is on (${inMaintenance.join(', ')} report${inMaintenance.length === 1 ? 's' : ''} it) ` +
            `and the app keeps that flag in db ${f.db}: FLUSHDB would end it on every host. Turn maintenance ` +
            'off first, or delete the cache keys with flush-cache --pattern',
        };
      }
      let size: number;
      try {
        size = await ctx.cache.dbSize(primary.host);
      } catch (err) {
        return { ok: false, reason: `cannot read ${f.host}: ${errorText(err)}` };
      }
      const unknown = health
        .filter((r) => r.status === 'unreachable' || r.status === 'timeout')
        .map((r) => r.target);
      return {
        ok: true,
        detail:
          `${f.host} is still the cache primary with ${plural(size, 'key')} in db ${f.db}; no app host reports maintenance` +
          (unknown.length > 0 ? ` (${unknown.join(', ')} did not answer)` : ''),
      };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let keysBefore: number | null = null;
      let keysAfter: number | null = null;
      let flushedAt: string | null = null;
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ keysBefore, keysAfter, flushedAt }),
        handlers: {
          flushdb: async () => {
            const host = redisHost(ctx.inventory, f.host);
            if (typeof host === 'string') return { status: 'failed', detail: host };
            const r = await ctx.cache.flushDb(host);
            keysBefore = r.keysBefore;
            keysAfter = r.keysAfter;
            flushedAt = ctx.now().toISOString();
            if (r.keysAfter !== 0) {
              return {
                status: 'failed',
                detail: `FLUSHDB on ${f.host} db ${f.db} left ${plural(r.keysAfter, 'key')} (of ${r.keysBefore})`,
              };
            }
            return {
              status: 'done',
              detail: `FLUSHDB removed ${plural(r.keysBefore, 'key')} from ${f.host} db ${f.db}`,
            };
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const o = outcome.observations;
      const removed = typeof o.keysBefore === 'number' ? o.keysBefore : null;
      const flushed = o.keysAfter === 0;
      const flushedAt = typeof o.flushedAt === 'string' ? Date.parse(o.flushedAt) : Number.NaN;
      const before =
        removed === null
          ? `DBSIZE ${f.observed.dbsize} at plan time (${keysText({ count: f.observed.cacheKeys, complete: f.observed.cacheKeysComplete })} in ${f.keyPattern}); the flush did not run`
          : `DBSIZE ${removed} right before the flush`;
      const host = redisHost(ctx.inventory, f.host);
      const [health, stats, size] = await Promise.all([
        appHealth(ctx, f.appHosts),
        runDiagnostics(ctx, [{ diagnostic: 'redis-stats', target: f.host, input: { sampleMs: 0 } }]),
        typeof host === 'string'
          ? Promise.resolve(host)
          : ctx.cache.dbSize(host).catch((err: unknown) => `cannot read DBSIZE: ${errorText(err)}`),
      ]);
      const evidence = [...stats, ...health];
      const unhealthy = health.filter((r) => r.status !== 'ok');
      const healthText =
        unhealthy.length === 0
          ? `${f.appHosts.join(', ')} healthy`
          : unhealthy.map((r) => `${r.target} ${r.status}`).join(', ');
      const since = Number.isFinite(flushedAt)
        ? formatDuration(Math.max(0, ctx.now().getTime() - flushedAt))
        : '?';
      const sizeText =
        typeof size === 'string'
          ? size
          : size === 0
            ? `DBSIZE 0 on ${f.host} db ${f.db}`
            : `DBSIZE ${size} on ${f.host} db ${f.db}: ${plural(size, 'key')} written since the flush ${since} ago (the app caches as it serves)`;
      const problems: string[] = [];
      if (!flushed) problems.push(`the flush did not empty the database (${outcome.detail})`);
      if (typeof size === 'string') problems.push(size);
      if (unhealthy.length > 0) problems.push(`app hosts not healthy: ${healthText}`);
      return {
        ok: problems.length === 0,
        before,
        after: oneLine(`${sizeText}; ${healthText}`, 500),
        detail:
          problems.length === 0
            ? oneLine(
                `${f.host} db ${f.db} was emptied (${plural(removed ?? 0, 'key')} removed); ${sizeText}; the app is healthy`,
                600,
              )
            : oneLine(problems.join('; '), 600),
        evidence,
      };
    },
  };
}

export const flushDb = createFlushDbCommand();
