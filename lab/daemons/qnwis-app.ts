/**
 * QNWIS application stand-in for the local lab: one instance per simulated app host, playing the
 * FastAPI service of the operations runbook closely enough that every runbook command, alert and
 * playbook sees the real thing. It does real work: queries on qnwis_prod, a Redis cache, audit
 * rows, JSON-lines logs under QNWIS_LOG_DIR, Prometheus metrics, fleet-wide maintenance mode.
 *
 *   npx tsx lab/daemons/qnwis-app.ts        (all configuration from the environment below)
 *   node --import tsx lab/daemons/qnwis-app.ts   (the same in one process: no tsx parent
 *                                                 relaying signals; what the lab's units run)
 *
 * It never exits because a dependency is down: /health and /metrics keep answering while Postgres
 * or Redis are away and it reconnects when they return, so DatabaseDown and friends are observed
 * the way they are in production. SIGTERM/SIGINT stop it cleanly (exit 0, logs flushed).
 *
 * stdout: one JSON object per line — uvicorn-style lifecycle lines, copies of WARNING/ERROR lines
 * (what `journalctl -u qnwis` would show) and one `"event":"ready"` line once it listens.
 * stderr: only configuration errors and a shutdown that overran its deadline.
 *
 * The lab's fault knobs (/lab/faults) leave no trace in any log or on stdout: the lab's journal
 * shows stdout, and a drill is no drill if `journalctl -u qnwis` names the injected fault.
 * GET /lab/faults is the place to look.
 */
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { z } from 'zod';
import { createHttpServer } from './qnwis-app/http.js';
import { kv, LogFiles, Throttle } from './qnwis-app/logs.js';
import { MaintenanceStore } from './qnwis-app/maintenance.js';
import { createMetrics } from './qnwis-app/metrics.js';
import { Catalog, describeError, Faults, LoadGenerator, QueryEngine } from './qnwis-app/workload.js';

// ---------------------------------------------------------------------------------------------
// Configuration: the environment, parsed once.
// ---------------------------------------------------------------------------------------------

const EnvSchema = z.object({
  /** Name of the simulated host (app-01); in logs, metrics, /health and the process title. */
  QNWIS_HOST_NAME: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, 'a host name like app-01'),
  /** Address to listen on, "ip:port" (e.g. 127.0.1.1:8000). */
  QNWIS_LISTEN: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'ip:port, e.g. 127.0.1.1:8000')
    .transform((value, ctx) => {
      const sep = value.lastIndexOf(':');
      const host = value.slice(0, sep).replace(/^\[(.*)\]$/, '$1');
      const port = Number(value.slice(sep + 1));
      if (port < 1 || port > 65_535) {
        ctx.addIssue({ code: 'custom', message: 'port must be 1..65535' });
        return z.NEVER;
      }
      return { host, port, text: value };
    }),
  /** Postgres URL of qnwis_prod as the application role. */
  QNWIS_DB_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  /** Redis URL of the fleet cache (db index in the path, e.g. redis://127.0.3.1:6379/0). */
  QNWIS_REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  /** Directory of app.log, error.log, audit.log (created if missing). */
  QNWIS_LOG_DIR: z.string().min(1),
  /** Bearer token for /health/detailed, /admin/* and /lab/*. */
  QNWIS_ADMIN_TOKEN: z.string().min(1),
  /** Built-in load: one query started every N ms; 0 turns the load off. */
  QNWIS_LOAD_INTERVAL_MS: z.coerce.number().int().min(0).default(200),
  /** Postgres statement_timeout for the app's sessions (0 = none). */
  QNWIS_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(5000),
  /** Maximum connections of the database pool (DATABASE_POOL_SIZE in the runbook). */
  QNWIS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  /** TTL of cached query answers in Redis. */
  QNWIS_CACHE_TTL_SEC: z.coerce.number().int().min(1).default(30),
  /** Window of qnwis_cache_hit_rate. */
  QNWIS_HIT_RATE_WINDOW_SEC: z.coerce.number().int().min(1).max(3600).default(20),
});
type Env = z.infer<typeof EnvSchema>;

const VERSION = '1.0.0';
/** Load queries running at once, at most (the analysts do not queue without limit). */
const LOAD_MAX_IN_FLIGHT = 8;
/** How often the pool is probed, so DatabaseDown reflects the database even without traffic. */
const DB_PROBE_INTERVAL_MS = 5000;
/** A shutdown that takes longer than this is abandoned (exit 1) rather than hanging a restart. */
const SHUTDOWN_DEADLINE_MS = 10_000;

function parseEnv(env: NodeJS.ProcessEnv): Env {
  const parsed = EnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    process.stderr.write(`qnwis-app: invalid configuration ${issue.path.join('.')}: ${issue.message}\n`);
  }
  process.exit(2);
}

/** Resolves when Redis is ready or after `ms`, whichever comes first; never rejects. */
function redisReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    // Not events.once(): it rejects on the first 'error' event, and a refused connection is an
    // expected state at start-up, not a reason to fail it.
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

function stdoutLine(line: string): void {
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Database reachability: logs the transitions (down → ERROR in error.log, back → INFO) and keeps
// one pooled connection open, the way the real service's pool stays warm between requests.
// ---------------------------------------------------------------------------------------------

class DbProbe {
  private readonly pool: pg.Pool;
  private readonly logs: LogFiles;
  private timer: NodeJS.Timeout | undefined;
  private up: boolean | undefined;

  constructor(pool: pg.Pool, logs: LogFiles) {
    this.pool = pool;
    this.logs = logs;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.probe(), DB_PROBE_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async probe(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      if (this.up === false) this.logs.app('INFO', 'qnwis.db', 'database connection restored');
      this.up = true;
    } catch (err) {
      // Once per outage: the transition is the news, every 5 s probe after it is not.
      if (this.up !== false) {
        this.logs.error('qnwis.db', `database unavailable error=${kv(describeError(err))}`);
      }
      this.up = false;
    }
    return this.up;
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring and lifecycle.
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const env = parseEnv(process.env);
  const host = env.QNWIS_HOST_NAME;
  process.title = `qnwis-app ${host}`;

  // Whoever reads stdout/stderr (a pipe to the lab, a journal) may go away; a closed pipe
  // (EPIPE) must cost the copies on stdout, not the service.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  mkdirSync(env.QNWIS_LOG_DIR, { recursive: true });
  const logs = new LogFiles({ dir: env.QNWIS_LOG_DIR, host, stdout: stdoutLine });
  logs.lifecycle(`Started server process [${process.pid}]`, { pid: process.pid });
  logs.lifecycle('Waiting for application startup.');

  const pool = new pg.Pool({
    connectionString: env.QNWIS_DB_URL,
    max: env.QNWIS_DB_POOL_SIZE,
    // Fail fast when the database is unreachable instead of queueing requests behind it.
    connectionTimeoutMillis: 2000,
    // Keep connections (like SQLAlchemy's pool): qnwis_db_connections_active is a pool gauge, and
    // dropping idle connections would read as DatabaseDown whenever traffic pauses.
    idleTimeoutMillis: 0,
    statement_timeout: env.QNWIS_STATEMENT_TIMEOUT_MS > 0 ? env.QNWIS_STATEMENT_TIMEOUT_MS : undefined,
    // statement_timeout is enforced by the server; this client-side limit frees the pool when the
    // server itself hangs (SIGSTOP, network partition) and can enforce nothing.
    query_timeout: env.QNWIS_STATEMENT_TIMEOUT_MS > 0 ? env.QNWIS_STATEMENT_TIMEOUT_MS + 2000 : 30_000,
    application_name: `qnwis-app ${host}`,
    keepAlive: true,
  });
  const dbWarnings = new Throttle(30_000);
  // An idle client whose connection dies (database restarted, backend terminated) is removed from
  // the pool and reported here; without a listener node-pg would crash the process.
  pool.on('error', (err) => {
    const suppressed = dbWarnings.admit('idle');
    if (suppressed === null) return;
    logs.app('WARNING', 'qnwis.db', `database connection lost error=${kv(describeError(err))}`, {
      suppressed,
    });
  });

  const redis = new Redis(env.QNWIS_REDIS_URL, {
    connectionName: `qnwis-app:${host}`,
    // While Redis is away, commands fail at once (no offline queue, no per-request retries) so a
    // query fails fast with a real error instead of piling up; the connection keeps retrying.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  const redisWarnings = new Throttle(30_000);
  let redisWasReady = false;
  redis.on('ready', () => {
    if (redisWasReady) logs.app('INFO', 'qnwis.cache', 'redis connection restored');
    redisWasReady = true;
    redisWarnings.reset('error');
  });
  redis.on('error', (err: Error) => {
    const suppressed = redisWarnings.admit('error');
    if (suppressed === null) return;
    logs.app('WARNING', 'qnwis.cache', `redis connection error error=${kv(describeError(err))}`, {
      suppressed,
    });
  });

  const maintenance = new MaintenanceStore(redis, logs);
  const metrics = createMetrics({
    host,
    version: VERSION,
    poolSize: env.QNWIS_DB_POOL_SIZE,
    hitRateWindowSec: env.QNWIS_HIT_RATE_WINDOW_SEC,
    dbConnections: () => pool.totalCount,
    dbWaiting: () => pool.waitingCount,
    maintenance: () => maintenance.current.enabled,
  });
  const faults = new Faults(env.QNWIS_DB_POOL_SIZE);
  const catalog = new Catalog();
  const engine = new QueryEngine({
    host,
    cacheTtlSec: env.QNWIS_CACHE_TTL_SEC,
    pool,
    redis,
    logs,
    metrics,
    faults,
  });
  const load = new LoadGenerator({
    intervalMs: env.QNWIS_LOAD_INTERVAL_MS,
    maxInFlight: LOAD_MAX_IN_FLIGHT,
    catalog,
    engine,
    logs,
    maintenance: () => maintenance.current.enabled,
  });
  const dbProbe = new DbProbe(pool, logs);
  const server = createHttpServer({
    host,
    version: VERSION,
    adminToken: env.QNWIS_ADMIN_TOKEN,
    logs,
    metrics,
    pool,
    redis,
    maintenance,
    catalog,
    engine,
    faults,
  });

  let shuttingDown = false;
  const shutdown = async (why: string, code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    setTimeout(() => {
      process.stderr.write(`qnwis-app ${host}: shutdown took over ${SHUTDOWN_DEADLINE_MS}ms, exiting\n`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    logs.lifecycle(`Shutting down (${why})`);
    load.stop();
    maintenance.stop();
    dbProbe.stop();
    faults.stop();
    server.close();
    server.closeIdleConnections();
    logs.lifecycle('Waiting for application shutdown.');
    // Running queries finish (their log lines and audit rows included) before the pool closes.
    await engine.drain(5000);
    server.closeAllConnections();
    await Promise.race([pool.end().catch(() => undefined), sleep(2000)]);
    await redis.quit().catch(() => redis.disconnect());
    logs.lifecycle('Application shutdown complete.');
    logs.lifecycle(`Finished server process [${process.pid}]`, { pid: process.pid });
    await logs.close();
    process.exit(code);
  };
  // `on`, not `once`: a second SIGTERM during shutdown (a shim that signals the process and then
  // its group, an impatient operator) must not fall back to the default action and cut the
  // graceful shutdown short; shutdown() itself runs once.
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGHUP', () => void logs.reopen());
  process.on('uncaughtException', (err) => {
    logs.error('qnwis.app', `uncaught exception error=${kv(describeError(err))}`, { stack: err.stack });
    void shutdown('uncaught exception', 1);
  });
  // A stray rejection is a bug worth an ERROR line, not a reason to take the instance down.
  process.on('unhandledRejection', (reason) => {
    logs.error('qnwis.app', `unhandled rejection error=${kv(describeError(reason))}`);
  });

  // Start-up waits briefly for the dependencies (so a restart during maintenance comes back in
  // maintenance, and the pool is warm) but never fails on them.
  await Promise.all([
    dbProbe.probe(),
    redisReady(redis, 2000).then(async () => {
      try {
        await maintenance.refresh();
      } catch (err) {
        logs.app(
          'WARNING',
          'qnwis.maintenance',
          `maintenance state unknown at start-up error=${kv(describeError(err))}`,
        );
      }
    }),
  ]);
  // A SIGTERM during the wait above: shutdown() is already under way and will exit.
  if (shuttingDown) return;
  maintenance.start();
  dbProbe.start();
  logs.lifecycle('Application startup complete.');

  server.on('error', (err) => {
    logs.error('qnwis.app', `cannot listen on ${env.QNWIS_LISTEN.text} error=${kv(describeError(err))}`);
    void shutdown('listen failed', 1);
  });
  server.listen(env.QNWIS_LISTEN.port, env.QNWIS_LISTEN.host, () => {
    const url = `http://${env.QNWIS_LISTEN.text}`;
    logs.lifecycle(`Uvicorn running on ${url} (Press CTRL+C to quit)`);
    load.start();
    stdoutLine(
      JSON.stringify({
        ts: new Date().toISOString(),
        level: 'INFO',
        logger: 'qnwis.lab',
        msg: `ready host=${host} listen=${env.QNWIS_LISTEN.text} pid=${process.pid}`,
        event: 'ready',
        host,
        listen: env.QNWIS_LISTEN.text,
        url,
        pid: process.pid,
        version: VERSION,
      }),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`qnwis-app: fatal during start-up: ${describeError(err)}\n`);
  process.exit(1);
});
