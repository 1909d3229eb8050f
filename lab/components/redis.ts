/**
 * Redis servers for the lab and the integration tests, run as plain daemonised processes on their
 * own loopback address (the machine's own Redis keeps 127.0.0.1:6379). No persistence (`--save ""`,
 * `--appendonly no`): lab and test caches are disposable by design.
 *
 * Idempotent: `startRedis` on a server that already runs (its pid file names a live redis-server)
 * only waits for it and converges its replication role; `stopRedis` on a stopped one does nothing.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { execFileAsync, isAlive, readPidFile, stopPid, waitFor } from '../process.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface StartRedisOptions {
  /** Loopback address to bind (e.g. 127.0.3.1); never 127.0.0.1:6379, the machine's own Redis. */
  readonly address: string;
  readonly port: number;
  /** Working directory (replication buffers, any dump); created if missing. */
  readonly dir: string;
  readonly logFile: string;
  readonly pidFile: string;
  /** Start as a replica of this primary and wait until `master_link_status:up`. */
  readonly replicaOf?: { readonly address: string; readonly port: number };
  /** How long to wait for PING (and the replication link). Default 15 s. */
  readonly timeoutMs?: number;
}

export async function startRedis(opts: StartRedisOptions): Promise<{ pid: number }> {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.address))
    throw new Error(`${opts.address} is not a loopback IPv4 address`);
  if (opts.address === '127.0.0.1' && opts.port === 6379) {
    throw new Error("127.0.0.1:6379 is the machine's own Redis; use another address");
  }
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const running = runningRedisPid(opts.pidFile);
  if (running === undefined) {
    for (const d of [opts.dir, path.dirname(opts.logFile), path.dirname(opts.pidFile)])
      mkdirSync(d, { recursive: true });
    // A stale pid file (crash, reboot) would only confuse the next stop.
    rmSync(opts.pidFile, { force: true });
    const args = [
      '--daemonize',
      'yes',
      '--bind',
      opts.address,
      '--port',
      String(opts.port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--pidfile',
      opts.pidFile,
      '--logfile',
      opts.logFile,
      '--dir',
      opts.dir,
      // Without it a replica's first full sync waits 5 s for more replicas to join (LAB-NOTES).
      '--repl-diskless-sync-delay',
      '0',
    ];
    if (opts.replicaOf) args.push('--replicaof', opts.replicaOf.address, String(opts.replicaOf.port));
    try {
      // With --daemonize the parent exits once the child has forked; stdio is detached by Redis.
      await execFileAsync(REDIS_SERVER, args, { timeout: 10_000 });
    } catch (err) {
      throw new Error(
        `redis-server on ${opts.address}:${opts.port} did not start; log tail:\n${tail(opts.logFile)}`,
        {
          cause: err,
        },
      );
    }
  }

  try {
    await waitFor(
      `redis ${opts.address}:${opts.port} to answer PING`,
      () => ping(opts.address, opts.port),
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; log tail:\n${tail(opts.logFile)}`, { cause: err });
  }
  if (running !== undefined) await convergeRole(opts);
  if (opts.replicaOf) {
    await waitFor(
      `redis replica ${opts.address}:${opts.port} to sync (master_link_status:up)`,
      async () => (await infoField(opts.address, opts.port, 'replication', 'master_link_status')) === 'up',
      timeoutMs,
    );
  }
  await waitFor(`${opts.pidFile}`, () => runningRedisPid(opts.pidFile) !== undefined, 5_000);
  const pid = runningRedisPid(opts.pidFile);
  if (pid === undefined)
    throw new Error(`redis on ${opts.address}:${opts.port} answers but wrote no pid file`);
  return { pid };
}

/** SIGTERM (then SIGKILL after 10 s) to the redis-server named by the pid file, and wait for it to exit. */
export async function stopRedis(opts: { pidFile: string }): Promise<void> {
  const pid = runningRedisPid(opts.pidFile);
  if (pid !== undefined) await stopPid(pid, 10_000);
  rmSync(opts.pidFile, { force: true });
}

/** The pid in `pidFile` when it is a live redis-server (a reused pid of another program is not). */
function runningRedisPid(pidFile: string): number | undefined {
  const pid = readPidFile(pidFile);
  if (!isAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** An already running server is pointed at the asked-for primary, or made a primary. */
async function convergeRole(opts: StartRedisOptions): Promise<void> {
  const role = await infoField(opts.address, opts.port, 'replication', 'role');
  const host = await infoField(opts.address, opts.port, 'replication', 'master_host');
  const port = await infoField(opts.address, opts.port, 'replication', 'master_port');
  if (opts.replicaOf) {
    if (role !== 'slave' || host !== opts.replicaOf.address || port !== String(opts.replicaOf.port)) {
      await withClient(opts.address, opts.port, (r) =>
        r.replicaof(opts.replicaOf?.address ?? '', opts.replicaOf?.port ?? 0),
      );
    }
  } else if (role === 'slave') {
    await withClient(opts.address, opts.port, (r) => r.replicaof('NO', 'ONE'));
  }
}

async function ping(address: string, port: number): Promise<boolean> {
  try {
    return (await withClient(address, port, (r) => r.ping())) === 'PONG';
  } catch {
    return false;
  }
}

async function infoField(
  address: string,
  port: number,
  section: string,
  field: string,
): Promise<string | undefined> {
  try {
    const text = await withClient(address, port, (r) => r.info(section));
    const line = text.split(/\r?\n/).find((l) => l.startsWith(`${field}:`));
    return line?.slice(field.length + 1).trim();
  } catch {
    return undefined;
  }
}

/** One short-lived connection that never retries: the callers poll. */
async function withClient<T>(address: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: address,
    port,
    lazyConnect: true,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

function tail(file: string, lines = 20): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
