/**
 * What the cache commands (flush-cache, flushdb, warm-cache) share: finding the cache primary (the
 * redis host that reports role master: writes and deletes only work there, and the replicas follow
 * it) and counting keys without KEYS.
 */
import { type Host, hostsWithRole, type Inventory } from '../../inventory.js';
import type { CacheStats, FleetCache } from '../adapters/redis.js';
import { errorText } from './steps.js';
import type { CommandContext } from './types.js';

export type CachePrimary =
  | {
      readonly ok: true;
      readonly host: Host;
      /** The other redis hosts of the inventory (replicas, or unreachable), in inventory order. */
      readonly others: readonly string[];
      readonly stats: CacheStats;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * The one redis host that answers as master. Refuses (with a sentence) when none answers as master,
 * or when more than one does (after a failover without repointing: which one the app writes to
 * cannot be told from here).
 */
export async function findCachePrimary(
  ctx: Pick<CommandContext, 'inventory' | 'cache'>,
): Promise<CachePrimary> {
  const hosts = hostsWithRole(ctx.inventory, 'redis');
  if (hosts.length === 0) return { ok: false, reason: 'the inventory has no redis host' };
  const looked = await Promise.allSettled(hosts.map((h) => ctx.cache.stats(h)));
  const masters: { host: Host; stats: CacheStats }[] = [];
  const problems: string[] = [];
  for (const [i, r] of looked.entries()) {
    const host = hosts[i] as Host;
    if (r.status === 'rejected') problems.push(`${host.name}: ${errorText(r.reason)}`);
    else if (r.value.role === 'master') masters.push({ host, stats: r.value });
  }
  if (masters.length > 1) {
    return {
      ok: false,
      reason:
        `${masters.map((m) => m.host.name).join(' and ')} all answer as redis master: ` +
        'which one the app uses cannot be told; repair the replication first',
    };
  }
  const [primary] = masters;
  if (!primary) {
    return {
      ok: false,
      reason:
        `no redis host answers as master (${hosts.map((h) => h.name).join(', ')})` +
        (problems.length > 0 ? `: ${problems.join('; ')}` : ''),
    };
  }
  return {
    ok: true,
    host: primary.host,
    others: hosts.filter((h) => h.name !== primary.host.name).map((h) => h.name),
    stats: primary.stats,
  };
}

/** The inventory host `name` if it has the redis role, else a sentence. */
export function redisHost(inv: Inventory, name: string): Host | string {
  const host = inv.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.includes('redis')) return `${name} is not a redis host (roles: ${host.roles.join(', ')})`;
  return host;
}

/**
 * Precheck helper: the planned host must still be the cache primary (a failover or a restart since
 * the plan may have made it a replica, where deletes fail with READONLY, or moved the app away).
 */
export async function stillPrimary(
  ctx: Pick<CommandContext, 'inventory' | 'cache'>,
  planned: string,
): Promise<{ ok: true; host: Host; stats: CacheStats } | { ok: false; reason: string }> {
  const now = await findCachePrimary(ctx);
  if (!now.ok) return { ok: false, reason: now.reason };
  if (now.host.name !== planned) {
    return {
      ok: false,
      reason: `the cache primary is now ${now.host.name}, not ${planned} as planned: plan again`,
    };
  }
  return { ok: true, host: now.host, stats: now.stats };
}

export interface KeyCount {
  readonly count: number;
  /** False when the cap or the SCAN budget stopped the count: there are at least `count`. */
  readonly complete: boolean;
  /** Up to `examples` of the keys, sorted. */
  readonly examples: string[];
}

/** Keys matching `pattern` (SCAN, never KEYS), counted up to `cap`. */
export async function countKeys(
  cache: FleetCache,
  host: Host,
  pattern: string,
  opts: { cap: number; examples?: number },
): Promise<KeyCount> {
  const r = await cache.scanKeys(host, pattern, { limit: opts.cap, count: 1000, maxCalls: 10_000 });
  const examples = [...r.keys].sort().slice(0, opts.examples ?? 0);
  return { count: r.keys.length, complete: !r.truncated, examples };
}

/** "12 keys", "at least 10000 keys". */
export function keysText(c: Pick<KeyCount, 'count' | 'complete'>): string {
  return `${c.complete ? '' : 'at least '}${c.count} key${c.count === 1 ? '' : 's'}`;
}
