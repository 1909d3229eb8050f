/**
 * redis-stats — runbook "Redis Operations" (INFO memory, INFO stats | grep keyspace) and the
 * LowCacheHitRate alert: used memory against maxmemory and its policy, hit rate, evictions,
 * clients, role and replication link.
 *
 * INFO's counters are cumulative since the server started, so a cache that broke a minute ago can
 * still show a fine lifetime hit rate. The check therefore reads INFO twice, `sampleMs` apart, and
 * judges the hit rate and evictions of that window (falling back to the lifetime rate when the
 * window saw too few lookups).
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { CacheStats } from '../adapters/redis.js';
import {
  diagnose,
  formatBytes,
  hostNameSchema,
  oneLine,
  percent,
  resolveHost,
  targetName,
} from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'redis-stats';
const ROLES = ['redis'] as const;
const MIB = 1024 * 1024;
/**
 * Fewer lookups than this in the window say too little about the hit rate (the lab's ~15 lookups/s
 * swing between 40 and 90 % from one second to the next); the lifetime rate is judged instead.
 */
export const MIN_WINDOW_LOOKUPS = 100;

export const redisStatsInput = z.strictObject({
  /** Redis host; default: the first one (redis-01). */
  target: hostNameSchema.optional(),
  /** Gap between the two INFO samples; 0 reads once (lifetime counters only). */
  sampleMs: z.number().int().min(0).max(10_000).default(1_000),
});

export interface RedisWindow {
  readonly ms: number;
  readonly hits: number;
  readonly misses: number;
  /** null when the window saw no lookups. */
  readonly hitRate: number | null;
  readonly evictedKeys: number;
}

export interface RedisStatsData extends CacheStats {
  /** The counters' change between the two samples. */
  readonly window?: RedisWindow;
  /** The hit rate the status is based on, and where it came from. */
  readonly judgedHitRate: number | null;
  readonly judgedOn: 'window' | 'lifetime' | 'none';
}

export interface RedisJudgement {
  readonly status: DiagnosticStatus;
  readonly problems: readonly string[];
  readonly judgedHitRate: number | null;
  readonly judgedOn: RedisStatsData['judgedOn'];
}

/**
 * Hit rate < 0.6 warn, < 0.5 error (SLO > 60 %, alert < 50 %); keys evicted during the window, a
 * maxmemory below 1 MiB, or a replica whose link is down → error; memory ≥ 90 % of maxmemory → warn
 * (error under noeviction, where writes start failing).
 */
export function judgeRedis(s: CacheStats, window: RedisWindow | undefined): RedisJudgement {
  const problems: string[] = [];
  let status: DiagnosticStatus = 'ok';
  const flag = (level: 'warn' | 'error', text: string) => {
    if (level === 'error' || status === 'ok') status = level;
    problems.push(text);
  };
  const lookups = window ? window.hits + window.misses : 0;
  const judgedOn: RedisJudgement['judgedOn'] =
    window && lookups >= MIN_WINDOW_LOOKUPS ? 'window' : s.hitRate !== null ? 'lifetime' : 'none';
  const rate = judgedOn === 'window' ? (window?.hitRate ?? null) : judgedOn === 'lifetime' ? s.hitRate : null;
  if (rate !== null) {
    if (rate < 0.5) flag('error', `hit rate ${percent(rate)} (< 50 %)`);
    else if (rate < 0.6) flag('warn', `hit rate ${percent(rate)} (< 60 %)`);
  }
  if (s.maxmemoryBytes > 0 && s.maxmemoryBytes < MIB) {
    flag('error', `maxmemory is ${formatBytes(s.maxmemoryBytes)}: nothing can stay cached`);
  } else if (s.maxmemoryBytes > 0 && s.usedMemoryBytes >= 0.9 * s.maxmemoryBytes) {
    flag(
      s.maxmemoryPolicy === 'noeviction' ? 'error' : 'warn',
      `memory ${percent(s.usedMemoryBytes / s.maxmemoryBytes)} of maxmemory (${s.maxmemoryPolicy})`,
    );
  }
  if (window && window.evictedKeys > 0) {
    flag('error', `evictions climbing: +${window.evictedKeys} in ${(window.ms / 1000).toFixed(1)} s`);
  }
  if (s.role === 'slave' && s.masterLinkStatus !== 'up') {
    flag('error', `replication link to the master is ${s.masterLinkStatus ?? 'unknown'}`);
  }
  return { status, problems, judgedHitRate: rate, judgedOn };
}

export const redisStats: Diagnostic<typeof redisStatsInput, RedisStatsData> = {
  name: NAME,
  title: 'Redis memory, hit rate and evictions',
  runbook: 'redis-cli INFO memory; redis-cli INFO stats | grep keyspace',
  input: redisStatsInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const first = await ctx.cache.stats(host);
      // Stay well inside the step deadline: the second sample must still fit.
      const gap = Math.min(input.sampleMs, Math.floor(ctx.stepTimeoutMs / 3));
      let stats = first;
      let window: RedisWindow | undefined;
      if (gap > 0) {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, gap));
        stats = await ctx.cache.stats(host);
        const hits = Math.max(0, stats.keyspaceHits - first.keyspaceHits);
        const misses = Math.max(0, stats.keyspaceMisses - first.keyspaceMisses);
        window = {
          ms: Math.round(performance.now() - t0),
          hits,
          misses,
          hitRate: hits + misses === 0 ? null : hits / (hits + misses),
          evictedKeys: Math.max(0, stats.evictedKeys - first.evictedKeys),
        };
      }
      const j = judgeRedis(stats, window);
      const data: RedisStatsData = {
        ...stats,
        ...(window ? { window } : {}),
        judgedHitRate: j.judgedHitRate,
        judgedOn: j.judgedOn,
      };
      const lifetime = stats.hitRate === null ? 'n/a' : percent(stats.hitRate);
      const windowText = window
        ? `${window.hitRate === null ? 'no lookups' : `hit rate ${percent(window.hitRate)}`} over the last ${(window.ms / 1000).toFixed(1)} s (${window.hits + window.misses} lookups)`
        : undefined;
      const rate =
        j.judgedOn === 'window'
          ? `${windowText}, lifetime ${lifetime}`
          : `lifetime hit rate ${lifetime}${windowText ? `, ${windowText}` : ''}`;
      const maxmemory =
        stats.maxmemoryBytes === 0 ? 'no maxmemory' : `maxmemory ${formatBytes(stats.maxmemoryBytes)}`;
      const role =
        stats.role === 'master'
          ? `master with ${stats.connectedReplicas} replica${stats.connectedReplicas === 1 ? '' : 's'}`
          : `replica, link ${stats.masterLinkStatus ?? 'unknown'}`;
      const facts = `${rate}; used ${formatBytes(stats.usedMemoryBytes)}, ${maxmemory} (${stats.maxmemoryPolicy}); ${stats.evictedKeys.toLocaleString('en-US')} evicted keys in total; ${stats.connectedClients} clients; ${role}`;
      const summary =
        j.problems.length > 0
          ? `${host.name}: ${j.problems.join('; ')} — ${facts}`
          : `${host.name}: ${facts}`;
      return { status: j.status, summary: oneLine(summary, 400), data };
    });
  },
};
