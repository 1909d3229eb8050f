/**
 * `/qnwis redis memory|stats|keys PATTERN` (runbook "Redis Operations"): memory and hit rate come
 * from the redis-stats diagnostic on every cache host; keys are listed with SCAN (never KEYS, which
 * blocks the server), inside the inventory's key space, capped.
 */
import { CacheError, CacheTimeoutError, CacheUnreachableError } from '../../../errors.js';
import { hostsWithRole } from '../../../inventory.js';
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import type { CommandEnv } from '../env.js';
import { diagnose } from './diagnose.js';

/** Keys listed at most; SCAN stops there and says there are more. */
export const REDIS_KEYS_LIMIT = 100;
/** SCAN round trips at most (COUNT 500 each): bounds the work on a large key space. */
export const REDIS_SCAN_MAX_CALLS = 200;

export function runRedisStats(env: CommandEnv): Promise<DiagnosticResult[]> {
  return diagnose(
    env,
    hostsWithRole(env.inventory, 'redis').map((h) => ({ diagnostic: 'redis-stats', target: h.name })),
  );
}

export interface RedisKeysReport {
  readonly pattern: string;
  /** The host that answered (the first reachable cache host). */
  readonly host: string | null;
  readonly keys: readonly string[];
  /** More keys match than were listed (or the scan budget ran out). */
  readonly truncated: boolean;
  readonly scanCalls: number;
  /** Why no host could be scanned. */
  readonly problem: string | null;
  readonly durationMs: number;
}

export async function scanRedisKeys(pattern: string, env: CommandEnv): Promise<RedisKeysReport> {
  const started = performance.now();
  const problems: string[] = [];
  for (const host of hostsWithRole(env.inventory, 'redis')) {
    try {
      const scan = await env.diagnostics.cache.scanKeys(host, pattern, {
        limit: REDIS_KEYS_LIMIT,
        count: 500,
        maxCalls: REDIS_SCAN_MAX_CALLS,
      });
      return {
        pattern,
        host: host.name,
        keys: [...scan.keys].sort(),
        truncated: scan.truncated,
        scanCalls: scan.calls,
        problem: null,
        durationMs: Math.round(performance.now() - started),
      };
    } catch (err) {
      if (
        err instanceof CacheUnreachableError ||
        err instanceof CacheTimeoutError ||
        err instanceof CacheError
      ) {
        problems.push(`${host.name}: ${err.message.replace(/^redis on host "[^"]*"(: | is )/, '')}`);
        continue;
      }
      throw err;
    }
  }
  return {
    pattern,
    host: null,
    keys: [],
    truncated: false,
    scanCalls: 0,
    problem: problems.join('; ') || 'no redis host in the inventory',
    durationMs: Math.round(performance.now() - started),
  };
}
