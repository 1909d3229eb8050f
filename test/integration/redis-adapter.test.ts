/**
 * FleetCache against a real, disposable Redis primary (127.0.9.3:6379) and replica
 * (127.0.9.4:6379) started with lab/components/redis.ts in a fresh temp dir. Those addresses are
 * reserved for this file; the lab uses 127.0.3.x and the machine's own Redis 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, stopRedis } from '../../lab/components/redis.js';
import {
  CacheError,
  CacheTimeoutError,
  CacheUnreachableError,
  InvalidArgumentError,
  UnknownHostError,
} from '../../src/errors.js';
import type { Host } from '../../src/inventory.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';

const PRIMARY = { address: '127.0.9.3', port: 6379 };
const REPLICA = { address: '127.0.9.4', port: 6379 };
const CACHE = { port: 6379, db: 0, keyPattern: 'qnwis:cache:*' };

function redisHost(name: string, address: string): Host {
  return {
    name,
    address,
    roles: ['redis'],
    description: undefined,
    ssh: { port: 22, user: 'root', keyPath: '/nonexistent', hostKey: undefined, knownHostsPath: undefined },
  };
}

const primary = redisHost('redis-01', PRIMARY.address);
const replica = redisHost('redis-02', REPLICA.address);

let dir: string;
let cache: FleetCache;
/** The "application": writes and reads the cache directly. */
let app: Redis;

const files = (name: string) => ({
  dir: path.join(dir, name),
  logFile: path.join(dir, `${name}.log`),
  pidFile: path.join(dir, `${name}.pid`),
});

async function commandCalls(command: string): Promise<number> {
  const info = await app.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

beforeAll(async () => {
  const started = Date.now();
  dir = mkdtempSync(path.join(os.tmpdir(), 'qnwis-redis-adapter-'));
  await startRedis({ ...PRIMARY, ...files('primary') });
  await startRedis({ ...REPLICA, ...files('replica'), replicaOf: PRIMARY });
  console.log(`redis primary + replica (link up) in ${Date.now() - started} ms`);
  app = new Redis({ host: PRIMARY.address, port: PRIMARY.port, lazyConnect: true });
  await app.connect();
  cache = new FleetCache({ cache: CACHE, password: undefined });
});

afterAll(async () => {
  await cache?.close();
  app?.disconnect();
  if (!dir) return;
  await stopRedis({ pidFile: files('replica').pidFile });
  await stopRedis({ pidFile: files('primary').pidFile });
  rmSync(dir, { recursive: true, force: true });
});

describe('FleetCache', () => {
  it('computes the hit rate from real GET hits and misses (INFO stats)', async () => {
    await app.config('RESETSTAT');
    expect((await cache.stats(primary)).hitRate).toBeNull(); // no lookups yet: no rate, not 0
    await app.set('qnwis:cache:query:hot', 'v');
    for (let i = 0; i < 3; i++) expect(await app.get('qnwis:cache:query:hot')).toBe('v');
    expect(await app.get('qnwis:cache:query:cold')).toBeNull();
    const stats = await cache.stats(primary);
    expect(stats).toMatchObject({
      keyspaceHits: 3,
      keyspaceMisses: 1,
      hitRate: 0.75,
      evictedKeys: 0,
      maxmemoryPolicy: 'noeviction',
      role: 'master',
      connectedReplicas: 1,
    });
    expect(stats.usedMemoryBytes).toBeGreaterThan(0);
    expect(stats.connectedClients).toBeGreaterThanOrEqual(2);
  });

  it('parses INFO sections', async () => {
    const server = await cache.info(primary, 'server');
    expect(server.redis_version).toMatch(/^\d+\.\d+/);
    expect(server.tcp_port).toBe('6379');
    await expect(cache.info(primary, 'stats; FLUSHALL')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await cache.ping(primary)).toMatchObject({ latencyMs: expect.any(Number) });
  });

  it('SCAN by pattern finds exactly the matching keys, over many iterations', async () => {
    const pipe = app.pipeline();
    for (let i = 0; i < 1500; i++) pipe.set(`qnwis:cache:query:q_${i}`, '1');
    for (let i = 0; i < 300; i++) pipe.set(`qnwis:cache:user:${i}`, '1');
    for (let i = 0; i < 200; i++) pipe.set(`qnwis:session:${i}`, '1');
    for (let i = 0; i < 200; i++) pipe.set(`other:query:q_${i}`, '1');
    await pipe.exec();

    const all = await cache.scanKeys(primary, 'qnwis:cache:query:q_*', { limit: 10_000, count: 200 });
    const expected = Array.from({ length: 1500 }, (_, i) => `qnwis:cache:query:q_${i}`);
    expect(all.truncated).toBe(false);
    expect(all.calls).toBeGreaterThan(1);
    expect([...all.keys].sort()).toEqual([...expected].sort());

    const some = await cache.scanKeys(primary, 'qnwis:cache:user:1?', {});
    expect([...some.keys].sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `qnwis:cache:user:1${i}`).sort(),
    );

    const capped = await cache.scanKeys(primary, 'qnwis:cache:*', { limit: 100 });
    expect(capped.keys).toHaveLength(100);
    expect(capped.truncated).toBe(true);
    expect(capped.keys.every((k) => k.startsWith('qnwis:cache:'))).toBe(true);
    expect(new Set(capped.keys).size).toBe(100);
  });

  it('deleteKeys removes exactly the keys asked for', async () => {
    const before = await app.dbsize();
    const victims = ['qnwis:cache:query:q_1', 'qnwis:cache:query:q_10', 'qnwis:cache:query:q_100'];
    expect(await cache.deleteKeys(primary, [...victims, 'qnwis:cache:query:does-not-exist'])).toBe(3);
    expect(await app.dbsize()).toBe(before - 3);
    expect(await app.exists(...victims)).toBe(0);
    expect(
      await app.exists('qnwis:cache:query:q_11', 'qnwis:cache:query:q_1000', 'qnwis:cache:query:q_0'),
    ).toBe(3);
    expect(await cache.deleteKeys(primary, [])).toBe(0);
  });

  it('refuses keys and patterns outside the cache key space without touching Redis', async () => {
    const scans = await commandCalls('scan');
    const unlinks = await commandCalls('unlink');
    await expect(cache.scanKeys(primary, 'qnwis:*')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.scanKeys(primary, '*')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      cache.deleteKeys(primary, ['qnwis:cache:query:q_2', 'qnwis:session:1']),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.deleteKeys(primary, ['qnwis:cache:query:*'])).rejects.toThrow(/glob/);
    expect(await commandCalls('scan')).toBe(scans);
    expect(await commandCalls('unlink')).toBe(unlinks);
    // The valid key in the refused batch was not deleted either.
    expect(await app.exists('qnwis:cache:query:q_2', 'qnwis:session:1')).toBe(2);

    // Checked before any connection: against a host that does not exist it is still the argument error.
    const nowhere = new FleetCache({ cache: CACHE, password: undefined, connectTimeoutMs: 300 });
    try {
      await expect(nowhere.scanKeys(redisHost('redis-gone', '127.0.9.9'), 'other:*')).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    } finally {
      await nowhere.close();
    }
  });

  it('stats on the replica: role slave, link up; a write there is a READONLY error', async () => {
    await app.set('qnwis:cache:query:replicated', 'x');
    const stats = await cache.stats(replica);
    expect(stats).toMatchObject({ role: 'slave', masterLinkStatus: 'up', connectedReplicas: 0 });
    const err = await cache.deleteKeys(replica, ['qnwis:cache:query:replicated']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheError);
    expect(err).toMatchObject({ reply: 'READONLY', transient: false, host: 'redis-02' });
  });

  it('an address with no server is unreachable (transient), quickly', async () => {
    const nowhere = new FleetCache({ cache: CACHE, password: undefined, connectTimeoutMs: 500 });
    try {
      const t0 = Date.now();
      const err = await nowhere.ping(redisHost('redis-gone', '127.0.9.9')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CacheUnreachableError);
      expect(err).toMatchObject({ code: 'cache_unreachable', transient: true });
      expect(Date.now() - t0).toBeLessThan(2_000);
      // And again: a failed client is rebuilt, not stuck.
      await expect(nowhere.ping(redisHost('redis-gone', '127.0.9.9'))).rejects.toBeInstanceOf(
        CacheUnreachableError,
      );
    } finally {
      await nowhere.close();
    }
  });

  it('a server that does not answer in time is a timeout (transient)', async () => {
    const impatient = new FleetCache({ cache: CACHE, password: undefined, commandTimeoutMs: 200 });
    try {
      await impatient.ping(primary); // connected first: the pause must hit a command, not the connect
      await app.call('CLIENT', 'PAUSE', '800', 'ALL');
      const t0 = Date.now();
      const err = await impatient.ping(primary).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CacheTimeoutError);
      expect(err).toMatchObject({ code: 'cache_timeout', transient: true, command: 'PING' });
      expect(Date.now() - t0).toBeLessThan(700);
    } finally {
      await app.call('CLIENT', 'UNPAUSE');
      await impatient.close();
    }
  });

  it('refuses hosts without the redis role', async () => {
    await expect(
      cache.ping({ ...primary, name: 'db-primary', roles: ['db-primary'] }),
    ).rejects.toBeInstanceOf(UnknownHostError);
  });

  it('flushDb empties the database (approval is the caller’s job)', async () => {
    expect(await app.dbsize()).toBeGreaterThan(0);
    await cache.flushDb(primary);
    await expect.poll(() => app.dbsize()).toBe(0);
  });
});
