/**
 * Redis adapter: the runbook's cache checks and actions against the fleet's redis hosts.
 *
 * - One ioredis client per host, connected on first use, with a connect timeout, a per-command
 *   timeout, no offline queue (a command while disconnected fails at once instead of waiting for a
 *   reconnect that may never come) and at most one retry per request. A client that cannot connect
 *   is dropped and rebuilt on the next call.
 * - The key space is fenced: every pattern and key must lie inside `inventory.cache.keyPattern`
 *   (e.g. `qnwis:cache:*`), checked by pure functions before anything is sent. Patterns go to SCAN
 *   (never KEYS, which blocks the server for the whole key space).
 * - Failures are typed (src/errors.ts): unreachable and timeout are transient; an error reply is
 *   `CacheError` with its first word (READONLY, NOAUTH, …).
 * - The password comes from the caller (resolved from `cache.password_env`); it is never logged.
 */
import { Redis } from 'ioredis';
import {
  CacheError,
  CacheTimeoutError,
  CacheUnreachableError,
  ConfigError,
  InvalidArgumentError,
  type QnwisError,
  UnknownHostError,
} from '../../errors.js';
import type { Host, Inventory } from '../../inventory.js';
import { type Logger, silentLogger } from '../../observability/logger.js';

// ---------------------------------------------------------------------------------------------
// Pure helpers: key fencing and INFO parsing

/** Glob metacharacters of Redis's stringmatchlen (`*`, `?`, `[…]`) and its escape character. */
const GLOB_CHARS = /[*?[\]\\]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we refuse.
const CONTROL_CHARS = /[\x00-\x1f\x7f]/;
const MAX_KEY_LENGTH = 512;

/**
 * The literal prefix of the allowed pattern: `qnwis:cache:*` → `qnwis:cache:`. The inventory
 * schema already enforces this shape; a pattern of any other shape is a configuration error.
 */
export function cacheKeyPrefix(allowedPattern: string): string {
  if (!/^[A-Za-z0-9:_.-]+:\*$/.test(allowedPattern)) {
    throw new ConfigError('cache key pattern', [
      { path: 'cache.key_pattern', message: `"${allowedPattern}" must be a literal prefix ending in ":*"` },
    ]);
  }
  return allowedPattern.slice(0, -1);
}

/**
 * A SCAN pattern is allowed when it starts with the allowed literal prefix: Redis glob matching
 * compares literal characters exactly, so every key it can match starts with that prefix, whatever
 * globbing follows (`qnwis:cache:query:*`, `qnwis:cache:user:?23`). Anything else — `*`,
 * `qnwis:*`, `qnwis:cach?:*`, another namespace — is refused.
 */
export function assertPatternAllowed(pattern: string, allowedPattern: string): void {
  const prefix = cacheKeyPrefix(allowedPattern);
  if (typeof pattern !== 'string' || pattern.length === 0)
    throw new InvalidArgumentError('the key pattern is empty');
  if (pattern.length > MAX_KEY_LENGTH)
    throw new InvalidArgumentError(`the key pattern is longer than ${MAX_KEY_LENGTH}`);
  if (CONTROL_CHARS.test(pattern))
    throw new InvalidArgumentError('the key pattern contains control characters');
  if (!pattern.startsWith(prefix)) {
    throw new InvalidArgumentError(`pattern "${pattern}" is outside the cache key space ${allowedPattern}`);
  }
}

/**
 * A literal key (for DEL/UNLINK) must start with the allowed prefix, name something after it, and
 * contain no glob characters: DEL does not expand patterns, so `qnwis:cache:*` would delete nothing
 * while the operator believes the whole cache is gone. Patterns go through scanKeys first.
 */
export function assertKeyAllowed(key: string, allowedPattern: string): void {
  const prefix = cacheKeyPrefix(allowedPattern);
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError('the key is empty');
  if (key.length > MAX_KEY_LENGTH) throw new InvalidArgumentError(`the key is longer than ${MAX_KEY_LENGTH}`);
  if (CONTROL_CHARS.test(key)) throw new InvalidArgumentError('the key contains control characters');
  if (GLOB_CHARS.test(key)) {
    throw new InvalidArgumentError(`"${key}" contains glob characters (* ? [ ] \\); give literal keys`);
  }
  if (!key.startsWith(prefix) || key.length === prefix.length) {
    throw new InvalidArgumentError(`key "${key}" is outside the cache key space ${allowedPattern}`);
  }
}

/**
 * `INFO` text → `{ field: value }`. Section headers (`# Memory`) and blank lines are skipped; the
 * value is everything after the first `:` (keyspace lines keep `keys=1,expires=0,…`).
 */
export function parseRedisInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/** `keys=1,expires=0,avg_ttl=0` → `{ keys: '1', expires: '0', avg_ttl: '0' }`. */
export function parseInfoValueList(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

export interface CacheStats {
  readonly keyspaceHits: number;
  readonly keyspaceMisses: number;
  /** hits / (hits + misses) since the last restart or CONFIG RESETSTAT; null when nothing was looked up. */
  readonly hitRate: number | null;
  readonly evictedKeys: number;
  readonly connectedClients: number;
  readonly usedMemoryBytes: number;
  /** 0 means no limit. */
  readonly maxmemoryBytes: number;
  readonly maxmemoryPolicy: string;
  readonly role: 'master' | 'slave';
  readonly connectedReplicas: number;
  /** Only on a replica: "up" or "down". */
  readonly masterLinkStatus?: string;
}

/** The runbook's memory and hit-rate checks, from parsed INFO (stats, memory, clients, replication). */
export function cacheStatsFromInfo(info: Readonly<Record<string, string>>): CacheStats {
  const num = (field: string): number => {
    const raw = info[field];
    const n = raw === undefined ? Number.NaN : Number(raw);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`INFO has no numeric ${field}`);
    return n;
  };
  const role = info.role;
  if (role !== 'master' && role !== 'slave') throw new InvalidArgumentError(`INFO role is "${role ?? ''}"`);
  const hits = num('keyspace_hits');
  const misses = num('keyspace_misses');
  const stats: CacheStats = {
    keyspaceHits: hits,
    keyspaceMisses: misses,
    hitRate: hits + misses === 0 ? null : hits / (hits + misses),
    evictedKeys: num('evicted_keys'),
    connectedClients: num('connected_clients'),
    usedMemoryBytes: num('used_memory'),
    maxmemoryBytes: num('maxmemory'),
    maxmemoryPolicy: info.maxmemory_policy ?? 'unknown',
    role,
    connectedReplicas: num('connected_slaves'),
  };
  return role === 'slave' ? { ...stats, masterLinkStatus: info.master_link_status ?? 'unknown' } : stats;
}

// ---------------------------------------------------------------------------------------------
// Adapter

export interface FleetCacheOptions {
  /** `inventory.cache`: port, db, keyPattern. */
  readonly cache: Pick<Inventory['cache'], 'port' | 'db' | 'keyPattern'>;
  /** Resolved from `cache.password_env` by the caller; undefined when the cache has no AUTH. */
  readonly password: string | undefined;
  /** Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Per command. Default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /** Reconnect attempts a command may wait through. Default 1. */
  readonly maxRetriesPerRequest?: number;
  readonly logger?: Logger;
}

/** One key as the runbook's "Clear specific cache" plan shows it. */
export interface KeyInfo {
  readonly exists: boolean;
  /** `string`, `hash`, …; null when the key does not exist. */
  readonly type: string | null;
  /** Remaining time to live in ms; null when the key has no expiry or does not exist. */
  readonly ttlMs: number | null;
}

/** One SCAN round trip: the next cursor (`'0'`: the iteration is complete) and its keys. */
export interface ScanPage {
  readonly cursor: string;
  readonly keys: string[];
}

/** What FLUSHDB did, read in the same transaction (nothing else runs between the three). */
export interface FlushDbResult {
  readonly keysBefore: number;
  /** 0 unless Redis is broken: proves the flush applied to this very database. */
  readonly keysAfter: number;
}

export interface ScanResult {
  readonly keys: string[];
  /** True when `limit` (or the SCAN call budget) stopped the scan before the cursor came back to 0. */
  readonly truncated: boolean;
  /** SCAN round trips made. */
  readonly calls: number;
}

const INFO_SECTION = /^[a-z]{1,32}$/;

/** The QNWIS cache on every redis host of the fleet. */
export class FleetCache {
  private readonly clients = new Map<string, Redis>();
  private readonly cache: FleetCacheOptions['cache'];
  private readonly password: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly maxRetriesPerRequest: number;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: FleetCacheOptions) {
    // Fail at wiring time, not at the first command, on a malformed pattern.
    cacheKeyPrefix(opts.cache.keyPattern);
    this.cache = opts.cache;
    this.password = opts.password;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 2_000;
    this.maxRetriesPerRequest = opts.maxRetriesPerRequest ?? 1;
    this.log = (opts.logger ?? silentLogger).child({ component: 'cache' });
  }

  async ping(host: Host): Promise<{ latencyMs: number }> {
    const started = performance.now();
    await this.run(host, 'PING', (r) => r.ping());
    return { latencyMs: Math.round(performance.now() - started) };
  }

  /** `INFO [section]`, parsed. */
  async info(host: Host, section?: string): Promise<Record<string, string>> {
    if (section !== undefined && !INFO_SECTION.test(section)) {
      throw new InvalidArgumentError(`"${section}" is not an INFO section name`);
    }
    const text = await this.run(host, 'INFO', (r) => (section === undefined ? r.info() : r.info(section)));
    return parseRedisInfo(text);
  }

  /** Runbook "Check memory usage" + "Check cache hit rate" + the replication link, in one INFO. */
  async stats(host: Host): Promise<CacheStats> {
    const text = await this.run(host, 'INFO', (r) =>
      r.call('INFO', 'stats', 'memory', 'clients', 'replication'),
    );
    if (typeof text !== 'string') throw new CacheError(host.name, 'INFO', 'unexpected reply type', undefined);
    return cacheStatsFromInfo(parseRedisInfo(text));
  }

  /**
   * Runbook "View cache keys", without KEYS: SCAN cursor MATCH pattern COUNT count until the cursor
   * returns to 0, `limit` keys are found, or `maxCalls` round trips were made. SCAN may return a
   * key twice; the result is de-duplicated.
   */
  async scanKeys(
    host: Host,
    pattern: string,
    opts: { limit?: number; count?: number; maxCalls?: number } = {},
  ): Promise<ScanResult> {
    assertPatternAllowed(pattern, this.cache.keyPattern);
    const limit = boundedInt(opts.limit ?? 1000, 'limit', 1, 100_000);
    const count = boundedInt(opts.count ?? 500, 'count', 1, 10_000);
    const maxCalls = boundedInt(opts.maxCalls ?? 1000, 'maxCalls', 1, 100_000);
    const found = new Set<string>();
    let cursor = '0';
    let calls = 0;
    let full = false;
    do {
      const [next, keys] = await this.run(host, 'SCAN', (r) =>
        r.scan(cursor, 'MATCH', pattern, 'COUNT', count),
      );
      calls += 1;
      cursor = next;
      for (const k of keys) {
        if (found.has(k)) continue;
        if (found.size >= limit) {
          full = true;
          break;
        }
        found.add(k);
      }
    } while (!full && cursor !== '0' && calls < maxCalls);
    return { keys: [...found], truncated: full || cursor !== '0', calls };
  }

  /**
   * One SCAN step from `cursor` (start with `'0'`), for callers that act between pages (delete in
   * batches, report progress, stop at a cap or on cancel). SCAN guarantees that a key present for
   * the whole iteration is returned at least once (possibly more); deleting returned keys while
   * iterating is safe.
   */
  async scanPage(host: Host, pattern: string, cursor: string, count = 500): Promise<ScanPage> {
    assertPatternAllowed(pattern, this.cache.keyPattern);
    if (!/^[0-9]{1,20}$/.test(cursor)) throw new InvalidArgumentError('a SCAN cursor is a decimal number');
    boundedInt(count, 'count', 1, 10_000);
    const [next, keys] = await this.run(host, 'SCAN', (r) =>
      r.scan(cursor, 'MATCH', pattern, 'COUNT', count),
    );
    return { cursor: next, keys };
  }

  /** EXISTS, TYPE and PTTL of one literal key, read together (MULTI). */
  async keyInfo(host: Host, key: string): Promise<KeyInfo> {
    assertKeyAllowed(key, this.cache.keyPattern);
    const replies = await this.run(host, 'MULTI', (r) => r.multi().exists(key).type(key).pttl(key).exec());
    const [exists, type, pttl] = transactionValues(host, 'EXISTS/TYPE/PTTL', replies, 3);
    if (exists !== 1) return { exists: false, type: null, ttlMs: null };
    return {
      exists: true,
      type: typeof type === 'string' ? type : null,
      ttlMs: typeof pttl === 'number' && pttl >= 0 ? pttl : null,
    };
  }

  /** DBSIZE of the inventory's db: every key in it, not only the cache prefix (a count, no names). */
  async dbSize(host: Host): Promise<number> {
    return this.run(host, 'DBSIZE', (r) => r.dbsize());
  }

  /**
   * Runbook "Clear specific cache": removes exactly the given literal keys (UNLINK: like DEL, but a
   * large value is freed in the background instead of blocking the server). Every key is checked
   * before anything is sent. Returns how many existed.
   */
  async deleteKeys(host: Host, keys: readonly string[]): Promise<number> {
    if (keys.length > 10_000) throw new InvalidArgumentError('at most 10000 keys per call');
    for (const k of keys) assertKeyAllowed(k, this.cache.keyPattern);
    if (keys.length === 0) return 0;
    const removed = await this.run(host, 'UNLINK', (r) => r.unlink(...keys));
    this.log.info({ host: host.name, requested: keys.length, removed }, 'deleted cache keys');
    return removed;
  }

  /**
   * Runbook "Clear all cache": FLUSHDB ASYNC on the inventory's db — every key in it, not only the
   * cache prefix. This adapter does not decide whether that is allowed: the approval policy (two
   * approvals, DESIGN.md) is enforced by the command that calls it. Never FLUSHALL: other
   * databases of the server are not the cache's.
   *
   * DBSIZE, FLUSHDB ASYNC, DBSIZE run as one transaction, so the counts are exactly what this
   * flush removed and left (ASYNC frees the memory in the background; the keys are gone at once).
   */
  async flushDb(host: Host): Promise<FlushDbResult> {
    const replies = await this.run(host, 'FLUSHDB', (r) =>
      r.multi().dbsize().flushdb('ASYNC').dbsize().exec(),
    );
    const [before, , after] = transactionValues(host, 'DBSIZE/FLUSHDB/DBSIZE', replies, 3);
    if (typeof before !== 'number' || typeof after !== 'number')
      throw new CacheError(host.name, 'FLUSHDB', 'unexpected reply type', undefined);
    this.log.warn(
      { host: host.name, db: this.cache.db, keysBefore: before, keysAfter: after },
      'flushed cache database',
    );
    return { keysBefore: before, keysAfter: after };
  }

  /** Disconnects every client; the adapter cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(
      clients.map(async (c) => {
        try {
          if (c.status === 'ready') await c.quit();
          else c.disconnect();
        } catch {
          c.disconnect();
        }
      }),
    );
  }

  // -------------------------------------------------------------------------------------------

  private async run<T>(host: Host, command: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const client = await this.ready(host);
    try {
      return await fn(client);
    } catch (err) {
      throw this.classify(err, host, command);
    }
  }

  /** The host's client, connected: built on first use, rebuilt after a failed connect or an `end`. */
  private async ready(host: Host): Promise<Redis> {
    if (this.closed) throw new CacheError(host.name, 'connect', 'the cache adapter is closed', undefined);
    if (!host.roles.includes('redis')) throw new UnknownHostError(host.name, 'is not a redis host');
    let client = this.clients.get(host.name);
    if (!client || client.status === 'end') {
      client = this.createClient(host);
      this.clients.set(host.name, client);
    }
    if (client.status === 'ready') return client;
    try {
      if (client.status === 'wait') await client.connect();
      else await waitUntilReady(client, this.connectTimeoutMs);
      return client;
    } catch (err) {
      // Drop it: a later call starts over instead of inheriting a reconnect loop.
      if (this.clients.get(host.name) === client) this.clients.delete(host.name);
      client.disconnect();
      throw this.classify(err, host, 'connect');
    }
  }

  private createClient(host: Host): Redis {
    const client = new Redis({
      host: host.address,
      port: this.cache.port,
      db: this.cache.db,
      password: this.password,
      connectionName: 'qnwis-chatops',
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      commandTimeout: this.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: this.maxRetriesPerRequest,
      // A few quick reconnects after a drop; then the client ends and the next call rebuilds it.
      retryStrategy: (times) => (times > 3 ? null : Math.min(times * 200, 1_000)),
    });
    // ioredis emits 'error' on every failed (re)connect; handled here so it is logged, not thrown.
    client.on('error', (err: Error) => {
      this.log.debug({ host: host.name, err: { message: err.message } }, 'redis connection error');
    });
    return client;
  }

  private classify(err: unknown, host: Host, command: string): QnwisError {
    if (err instanceof InvalidArgumentError || err instanceof CacheError) return err;
    const e = err as { name?: unknown; message?: unknown; code?: unknown };
    const message = typeof e?.message === 'string' ? e.message : String(err);
    if (message === 'Command timed out')
      return new CacheTimeoutError(host.name, command, this.commandTimeoutMs, { cause: err });
    if (e?.name === 'ReplyError') {
      const reply = /^[A-Z]+/.exec(message)?.[0];
      return new CacheError(host.name, command, message, reply, { cause: err });
    }
    // Refused, connect timeout, connection lost, offline queue disabled, retries exhausted.
    return new CacheUnreachableError(
      host.name,
      typeof e?.code === 'string' ? `${message} (${e.code})` : message,
      {
        cause: err,
      },
    );
  }
}

function waitUntilReady(client: Redis, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error('Connection is closed.'));
    const timer = setTimeout(() => done(new Error(`not connected within ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** The replies of a MULTI … EXEC, or the first error in it as a CacheError. */
function transactionValues(
  host: Host,
  command: string,
  replies: [error: Error | null, result: unknown][] | null,
  expected: number,
): unknown[] {
  // null: the transaction was aborted (WATCH); we never WATCH, so this is a broken connection.
  if (!replies || replies.length !== expected)
    throw new CacheError(host.name, command, 'the transaction was aborted', undefined);
  const failed = replies.find(([err]) => err !== null)?.[0];
  if (failed) {
    throw new CacheError(host.name, command, failed.message, /^[A-Z]+/.exec(failed.message)?.[0], {
      cause: failed,
    });
  }
  return replies.map(([, value]) => value);
}

function boundedInt(n: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
  return n;
}
