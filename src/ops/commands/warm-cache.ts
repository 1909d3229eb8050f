/**
 * `warm-cache [HOST]` — runbook "Performance Tuning / Cache Optimization": `python
 * scripts/warm_cache.py` on an app host, i.e. `cd /opt/qnwis && venv/bin/python
 * scripts/warm_cache.py` (the runbook deploys the app in /opt/qnwis with its virtualenv in venv/).
 * The script asks the app its common questions so their answers are cached.
 *
 * - plan: the app host, the exact command and its time bound, the cache primary whose keys are
 *   counted before and after.
 * - precheck: still an app host; the cache primary unchanged; the app on that host healthy and not
 *   in maintenance mode (it would refuse every question).
 * - run: DBSIZE and INFO stats of the cache primary (the `redis-stats` diagnostic), then the script
 *   over SSH; its JSON summary line, when it prints one, is kept for the thread.
 * - verify: DBSIZE and `redis-stats` again: the cache holds at least as many keys as before (more,
 *   unless it was warm already), with the hit rate before and after.
 */
import { z } from 'zod';
import { type Host, hostsWithRole, type Inventory } from '../../inventory.js';
import { defineRemoteCommand } from '../adapters/ssh.js';
import { formatDuration, oneLine, percent, plural } from '../diagnostics/common.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import type { RedisStatsData } from '../diagnostics/redis-stats.js';
import { findCachePrimary, redisHost, stillPrimary } from './cache-common.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  type JsonObject,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type WarmCacheArgs = CommandArgs['warm-cache'];

export type WarmCacheFacts = {
  /** The app host that runs the script. */
  readonly host: string;
  readonly appDir: string;
  /** What runs there, as people read it. */
  readonly command: string;
  readonly timeoutSec: number;
  /** The cache primary whose keys are counted before and after. */
  readonly cacheHost: string;
  readonly db: number;
};

export type WarmCachePlan = CommandPlan<WarmCacheFacts>;

export interface WarmCacheOptions {
  /** The app's deployment directory on the app hosts (default /opt/qnwis, as in the runbook). */
  readonly appDir?: string;
}

export const DEFAULT_APP_DIR = '/opt/qnwis';
const SCRIPT = 'venv/bin/python scripts/warm_cache.py';

const appDirSchema = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');

/**
 * The runbook's warm-up in the app's directory, with its virtualenv's python. Bounded at 5 minutes:
 * the lab's takes ~3 s; a real one that runs longer is stuck, and the remote `timeout` ends it.
 */
export const warmCacheScript = defineRemoteCommand({
  name: 'warm-cache',
  script: `cd {{appDir}} && ${SCRIPT}`,
  args: { appDir: appDirSchema },
  timeoutSec: 300,
  maxOutputBytes: 64 * 1024,
});

/** The JSON line the lab's (and any compatible) warm_cache.py prints last on stdout. */
const summarySchema = z.looseObject({
  questions: z.number().int().nonnegative().optional(),
  answered: z.number().int().nonnegative().optional(),
  cached_now: z.number().int().nonnegative().optional(),
  already_cached: z.number().int().nonnegative().optional(),
  distinct_queries: z.number().int().nonnegative().optional(),
  errors: z.number().int().nonnegative().optional(),
  duration_ms: z.number().nonnegative().optional(),
});
export type WarmSummary = z.infer<typeof summarySchema>;

/** The script's last stdout line as its summary, when it is one; undefined otherwise. */
export function parseWarmSummary(stdout: string): WarmSummary | undefined {
  const last = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  if (!last?.startsWith('{')) return undefined;
  try {
    const parsed = summarySchema.safeParse(JSON.parse(last));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** "asked 180 questions: 40 distinct queries cached (5 new answers), 0 errors, in 3.0 s". */
export function describeWarmSummary(s: WarmSummary): string {
  const parts: string[] = [];
  if (s.questions !== undefined) parts.push(`asked ${plural(s.questions, 'question')}`);
  const cached: string[] = [];
  if (s.distinct_queries !== undefined)
    cached.push(`${plural(s.distinct_queries, 'distinct query', 'distinct queries')} cached`);
  if (s.cached_now !== undefined) cached.push(`(${plural(s.cached_now, 'new answer')})`);
  if (cached.length > 0) parts.push(cached.join(' '));
  if (s.errors !== undefined) parts.push(plural(s.errors, 'error'));
  const text = parts.join(', ').replace(/^asked ([^,]+), /, 'asked $1: ');
  return s.duration_ms !== undefined ? `${text} in ${formatDuration(s.duration_ms)}` : text;
}

function appHost(inv: Inventory, name: string): Host | string {
  const host = inv.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.includes('app')) return `${name} is not an app host (roles: ${host.roles.join(', ')})`;
  return host;
}

function statsData(r: DiagnosticResult | undefined): RedisStatsData | undefined {
  return r?.data as RedisStatsData | undefined;
}

function rateText(hits: number | null, misses: number | null): string {
  if (hits === null || misses === null) return 'n/a';
  return hits + misses === 0 ? 'n/a' : percent(hits / (hits + misses));
}

export function createWarmCacheCommand(
  opts: WarmCacheOptions = {},
): CommandModule<WarmCacheArgs, WarmCacheFacts> {
  const appDir = appDirSchema.parse(opts.appDir ?? DEFAULT_APP_DIR);
  const command = `cd ${appDir} && ${SCRIPT}`;

  async function redisStats(ctx: CommandContext, host: string): Promise<DiagnosticResult | undefined> {
    const [r] = await runDiagnostics(ctx, [
      { diagnostic: 'redis-stats', target: host, input: { sampleMs: 0 } },
    ]);
    return r;
  }

  return {
    name: 'warm-cache',

    async plan(ctx, args): Promise<WarmCachePlan> {
      const host = appHost(ctx.inventory, args.host);
      if (typeof host === 'string') throw new PlanRefusedError('warm-cache', host);
      const primary = await findCachePrimary(ctx);
      if (!primary.ok) throw new PlanRefusedError('warm-cache', primary.reason);
      const db = ctx.inventory.cache.db;
      const apps = hostsWithRole(ctx.inventory, 'app').length;
      const timeoutSec = warmCacheScript.timeoutSec;
      return {
        command: 'warm-cache',
        summary: `warm-cache on ${host.name}`,
        steps: [
          {
            id: 'before',
            host: primary.host.name,
            kind: 'capture',
            description: `DBSIZE and INFO stats of the cache primary ${primary.host.name} (db ${db}), to compare after`,
          },
          {
            id: 'warm',
            host: host.name,
            kind: 'remote-command',
            description: `${command} on ${host.name} (at most ${timeoutSec} s)`,
            timeoutSec,
          },
        ],
        blastRadius:
          `1 of ${plural(apps, 'app host')} runs the warm-up (${host.name}); it asks the app its common ` +
          `questions: extra database load until their answers are cached; the cache on ${primary.host.name} ` +
          'only gains keys',
        facts: { host: host.name, appDir, command, timeoutSec, cacheHost: primary.host.name, db },
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.host !== args.host)
        return { ok: false, reason: `the plan is for ${f.host}, the request for ${args.host}` };
      const host = appHost(ctx.inventory, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      const [primary, [health]] = await Promise.all([
        stillPrimary(ctx, f.cacheHost),
        runDiagnostics(ctx, [{ diagnostic: 'health', target: f.host }]),
      ]);
      if (!primary.ok) return primary;
      if (!health) return { ok: false, reason: `the health of ${f.host} could not be checked` };
      if (health.status !== 'ok') {
        return {
          ok: false,
          reason: oneLine(
            `the app on ${f.host} must be healthy and out of maintenance mode to be asked anything: ${health.summary}`,
            500,
          ),
        };
      }
      return { ok: true, detail: `the app on ${f.host} is healthy; ${f.cacheHost} is the cache primary` };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const seen: {
        keysBefore: number | null;
        hitsBefore: number | null;
        missesBefore: number | null;
        statsBefore: string | null;
        script: JsonObject | null;
      } = { keysBefore: null, hitsBefore: null, missesBefore: null, statsBefore: null, script: null };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ ...seen }),
        handlers: {
          before: async () => {
            const cacheHost = redisHost(ctx.inventory, f.cacheHost);
            if (typeof cacheHost === 'string') return { status: 'failed', detail: cacheHost };
            const [keys, stats] = await Promise.all([
              ctx.cache.dbSize(cacheHost),
              redisStats(ctx, f.cacheHost),
            ]);
            seen.keysBefore = keys;
            const data = statsData(stats);
            seen.hitsBefore = data?.keyspaceHits ?? null;
            seen.missesBefore = data?.keyspaceMisses ?? null;
            seen.statsBefore = stats?.summary ?? null;
            return {
              status: 'done',
              detail: `${plural(keys, 'key')} in db ${f.db} on ${f.cacheHost}; lifetime hit rate ${rateText(seen.hitsBefore, seen.missesBefore)}`,
            };
          },
          warm: async () => {
            const host = appHost(ctx.inventory, f.host);
            if (typeof host === 'string') return { status: 'failed', detail: host };
            const r = await ctx.ssh.run(host, warmCacheScript, { appDir: f.appDir });
            const summary = parseWarmSummary(r.stdout);
            seen.script = summary ? (JSON.parse(JSON.stringify(summary)) as JsonObject) : null;
            const said = summary
              ? describeWarmSummary(summary)
              : oneLine(r.stdout.trim().split('\n').at(-1) ?? '', 200) || 'no output';
            return {
              status: 'done',
              detail: oneLine(
                `${f.host}: warm_cache.py ${said} (${formatDuration(r.durationMs)} over SSH)`,
                500,
              ),
            };
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const o = outcome.observations;
      const num = (v: unknown) => (typeof v === 'number' ? v : null);
      const keysBefore = num(o.keysBefore);
      const hitsBefore = num(o.hitsBefore);
      const missesBefore = num(o.missesBefore);
      const before =
        keysBefore === null
          ? 'not measured (the run stopped before its first step)'
          : `${plural(keysBefore, 'key')} in db ${f.db} on ${f.cacheHost}; lifetime hit rate ${rateText(hitsBefore, missesBefore)}`;
      const cacheHost = redisHost(ctx.inventory, f.cacheHost);
      const [keys, stats] = await Promise.all([
        typeof cacheHost === 'string'
          ? Promise.resolve(cacheHost)
          : ctx.cache.dbSize(cacheHost).catch((err: unknown) => `cannot read DBSIZE: ${errorText(err)}`),
        redisStats(ctx, f.cacheHost),
      ]);
      const evidence = stats ? [stats] : [];
      const data = statsData(stats);
      const rateAfter = rateText(data?.keyspaceHits ?? null, data?.keyspaceMisses ?? null);
      if (typeof keys === 'string') return { ok: false, before, after: keys, detail: keys, evidence };
      const after = `${plural(keys, 'key')} in db ${f.db} on ${f.cacheHost}; lifetime hit rate ${rateAfter}`;
      const script = o.script as WarmSummary | null | undefined;
      const scriptText = script ? `; the script ${describeWarmSummary(script)}` : '';
      const problems: string[] = [];
      if (outcome.status !== 'succeeded') problems.push(`the warm-up did not finish (${outcome.detail})`);
      if (keys === 0) problems.push(`the cache on ${f.cacheHost} is empty`);
      else if (keysBefore !== null && keys < keysBefore)
        problems.push(`the cache holds fewer keys than before (${keysBefore} → ${keys})`);
      const change =
        keysBefore === null
          ? `${plural(keys, 'key')} now`
          : keys > keysBefore
            ? `keys ${keysBefore} → ${keys} (+${keys - keysBefore})`
            : `keys ${keysBefore} → ${keys}: the cache was already warm`;
      return {
        ok: problems.length === 0,
        before,
        after,
        detail: oneLine(
          problems.length === 0
            ? `${change}; lifetime hit rate ${rateText(hitsBefore, missesBefore)} → ${rateAfter}${scriptText}`
            : problems.join('; '),
          600,
        ),
        evidence,
      };
    },
  };
}

/** `warm-cache` in the runbook's app directory (/opt/qnwis). */
export const warmCache = createWarmCacheCommand();
