/**
 * The lab's QNWIS app stand-in (lab/daemons/qnwis-app.ts) as an operator meets it: a real
 * process on loopback, with a real Postgres database (seeded by lab/sql/qnwis_prod.sql and used
 * through a least-privilege role) and the machine's Redis (database 7, ours alone).
 *
 * Instance A has a working database and a fast built-in load; instance B points at a dead
 * Postgres port. Both share Redis, as the fleet does, so maintenance mode set through A must show
 * on B.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const APP = join(ROOT, 'lab/daemons/qnwis-app.ts');
const SCHEMA_SQL = join(ROOT, 'lab/sql/qnwis_prod.sql');
const PG_HOST = '127.0.0.1:5432';
const REDIS_URL = 'redis://127.0.0.1:6379/7';

const suffix = randomBytes(4).toString('hex');
const DB_NAME = `qnwis_app_test_${suffix}`;
const APP_ROLE = `qnwis_app_test_${suffix}`;
const ADMIN_TOKEN = `lab-admin-${randomBytes(8).toString('hex')}`;
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface AppProcess {
  child: ChildProcess;
  url: string;
  logDir: string;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts the app the way the lab does, and resolves on its `"event":"ready"` stdout line. */
async function startApp(opts: {
  host: string;
  dbUrl: string;
  redisUrl?: string;
  logDir: string;
  loadIntervalMs: number;
}) {
  const port = await freePort();
  // `node --import tsx`, one process, as the lab's unit runs it: a tsx CLI parent relaying the
  // signal races the app's own exit and may report 143 for a clean stop.
  const child = spawn(process.execPath, ['--import', 'tsx', APP], {
    cwd: ROOT,
    // Own process group, so cleanup can stop tsx and the app below it together.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      QNWIS_HOST_NAME: opts.host,
      QNWIS_LISTEN: `127.0.0.1:${port}`,
      QNWIS_DB_URL: opts.dbUrl,
      QNWIS_REDIS_URL: opts.redisUrl ?? REDIS_URL,
      QNWIS_LOG_DIR: opts.logDir,
      QNWIS_ADMIN_TOKEN: ADMIN_TOKEN,
      QNWIS_LOAD_INTERVAL_MS: String(opts.loadIntervalMs),
      QNWIS_HIT_RATE_WINDOW_SEC: '3',
    },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  const stderr: string[] = [];
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const app: AppProcess = { child, url: `http://127.0.0.1:${port}`, logDir: opts.logDir, stderr, exited };

  const stdout = child.stdout;
  if (!stdout) throw new Error('no stdout');
  // Keep reading stdout for the whole run: an unread pipe would eventually block the app.
  const lines = createInterface({ input: stdout });
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`${opts.host} not ready in 30s: ${stderr.join('\n')}`)),
      30_000,
    );
    lines.on('line', (line) => {
      if (parseJson(line)?.event === 'ready') {
        clearTimeout(timer);
        ready();
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      fail(new Error(`${opts.host} exited with ${code} before ready: ${stderr.join('\n')}`));
    });
  });
  return app;
}

/** SIGTERM to the whole group (tsx and the app), SIGKILL if it has not exited within 5 s. */
async function stopGroup(app: AppProcess | undefined): Promise<void> {
  const pid = app?.child.pid;
  if (!app || !pid || app.child.exitCode !== null || app.child.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await app.exited;
  clearTimeout(timer);
}

function parseJson(line: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function http(
  app: AppProcess,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await fetch(`${app.url}${path}`, {
    method: init.method ?? 'GET',
    headers: init.headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: parseJson(text) ?? {}, text };
}

/** Sum of the samples of `name` whose labels include `labels` (Prometheus text format). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const present = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).some(([k, v]) => present[k] !== v)) continue;
    found = true;
    sum += Number(m[3]);
  }
  if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not exported`);
  return sum;
}

async function metrics(app: AppProcess): Promise<string> {
  return (await http(app, '/metrics')).text;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function logLines(app: AppProcess, file: 'app.log' | 'error.log' | 'audit.log'): Promise<string[]> {
  const text = await readFile(join(app.logDir, file), 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}

// ---------------------------------------------------------------------------------------------
// Fixture: database, role, Redis db 7, two app instances.
// ---------------------------------------------------------------------------------------------

let admin: pg.Client;
let db: pg.Client;
let redis: Redis;
let tmp: string;
let appA: AppProcess | undefined;
let appB: AppProcess | undefined;
let appC: AppProcess | undefined;

function started(app: AppProcess | undefined): AppProcess {
  if (!app) throw new Error('app not started');
  return app;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qnwis-app-test-'));
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.flushdb();

  admin = new pg.Client({ connectionString: `postgres://postgres@${PG_HOST}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN`);
  db = new pg.Client({ connectionString: `postgres://postgres@${PG_HOST}/${DB_NAME}` });
  await db.connect();
  // The schema file grants to `qnwis` unless the session names another role: ours is throw-away.
  await db.query(`SET qnwis.app_role = '${APP_ROLE}'`);
  await db.query(await readFile(SCHEMA_SQL, 'utf8'));

  const [deadPg, deadRedis] = [await freePort(), await freePort()];
  [appA, appB, appC] = await Promise.all([
    startApp({
      host: 'app-01',
      dbUrl: `postgres://${APP_ROLE}@${PG_HOST}/${DB_NAME}`,
      logDir: join(tmp, 'app-01', 'var/log/qnwis'),
      loadIntervalMs: 50,
    }),
    startApp({
      host: 'app-02',
      dbUrl: `postgres://${APP_ROLE}@127.0.0.1:${deadPg}/${DB_NAME}`,
      logDir: join(tmp, 'app-02', 'var/log/qnwis'),
      loadIntervalMs: 0,
    }),
    // Starts with neither dependency reachable and keeps its load running against them.
    startApp({
      host: 'app-03',
      dbUrl: `postgres://${APP_ROLE}@127.0.0.1:${deadPg}/${DB_NAME}`,
      redisUrl: `redis://127.0.0.1:${deadRedis}/0`,
      logDir: join(tmp, 'app-03', 'var/log/qnwis'),
      loadIntervalMs: 100,
    }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([stopGroup(appA), stopGroup(appB), stopGroup(appC)]);
  await db?.end().catch(() => undefined);
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${APP_ROLE}`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
  if (redis) {
    await redis.flushdb().catch(() => undefined);
    redis.disconnect();
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 30_000);

// ---------------------------------------------------------------------------------------------

describe('lab QNWIS app stand-in', () => {
  it('answers /health without auth', async () => {
    const res = await http(started(appA), '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'healthy', host: 'app-01', version: '1.0.0', maintenance: false });
  });

  it('guards /health/detailed with the admin token and really checks Postgres and Redis', async () => {
    const app = started(appA);
    const anonymous = await http(app, '/health/detailed');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.detail).toBeTypeOf('string');
    expect((await http(app, '/health/detailed', { headers: { authorization: 'Bearer wrong' } })).status).toBe(
      401,
    );

    const res = await http(app, '/health/detailed', { headers: ADMIN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'healthy',
      host: 'app-01',
      checks: { database: { status: 'ok' }, redis: { status: 'ok' } },
    });
    expect(res.body.pid).toBeTypeOf('number');
    expect(res.body.uptime_seconds).toBeTypeOf('number');
  });

  it('exports the runbook metrics, driven by real load', async () => {
    const app = started(appA);
    // Warm-up misses leave the 3 s hit-rate window quickly; the skewed load then mostly hits.
    const text = await waitFor('cache hit rate > 0.5', async () => {
      const t = await metrics(app);
      return metric(t, 'qnwis_cache_hit_rate') > 0.5 && t;
    });
    expect(metric(text, 'qnwis_queries_total')).toBeGreaterThan(0);
    for (const type of ['simple', 'medium', 'complex']) {
      expect(metric(text, 'qnwis_queries_total', { type })).toBeGreaterThanOrEqual(0);
      expect(metric(text, 'qnwis_query_duration_seconds_bucket', { type, le: '120' })).toBeGreaterThanOrEqual(
        0,
      );
    }
    expect(metric(text, 'qnwis_errors_total', { type: 'simple', reason: 'db_pool_exhausted' })).toBe(0);
    expect(metric(text, 'qnwis_cache_requests_total', { result: 'hit' })).toBeGreaterThan(0);
    expect(metric(text, 'qnwis_cache_requests_total', { result: 'miss' })).toBeGreaterThan(0);
    expect(metric(text, 'qnwis_db_connections_active')).toBeGreaterThan(0);
    expect(metric(text, 'qnwis_db_pool_size')).toBe(20);
    expect(metric(text, 'qnwis_maintenance_mode')).toBe(0);
    expect(metric(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metric(text, 'qnwis_error_rate')).toBe(0);

    // Misses did real work: cached answers in Redis with the TTL.
    const keys = await redis.keys('qnwis:cache:query:q_2026_*');
    expect(keys.length).toBeGreaterThan(0);
    const [key] = keys;
    if (!key) throw new Error('no cache key');
    expect(await redis.ttl(key)).toBeGreaterThan(0);
  });

  it('writes JSON-lines logs the runbook greps, and audit rows through the app role', async () => {
    const app = started(appA);
    const lines = await logLines(app, 'app.log');
    const records = lines.map((line) => parseJson(line));
    expect(records.every((r) => r !== null && typeof r.ts === 'string' && typeof r.level === 'string')).toBe(
      true,
    );
    expect(lines.some((line) => line.includes('Application startup complete'))).toBe(true);

    const completed = records.find((r) => r?.logger === 'qnwis.query' && r.level === 'INFO');
    const queryId = completed?.query_id;
    expect(queryId).toMatch(/^q_2026_\d{6}$/);
    // The runbook's literal command: sudo grep "query_id=q_..." /var/log/qnwis/app.log | jq
    const grepped = execFileSync('grep', [`query_id=${String(queryId)}`, join(app.logDir, 'app.log')], {
      encoding: 'utf8',
    });
    for (const line of grepped.trim().split('\n')) expect(parseJson(line)?.query_id).toBe(queryId);

    const audit = await logLines(app, 'audit.log');
    const executed = audit.map((line) => parseJson(line)).find((r) => r?.event === 'query');
    expect(executed?.msg).toMatch(/^query executed user_id=analyst_\d+ query_id=q_2026_\d{6} /);

    const rows = await db.query<{ n: number; users: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS users
         FROM audit.query_log WHERE user_id LIKE 'analyst\\_%' AND status = 'ok'`,
    );
    expect(rows.rows[0]?.n).toBeGreaterThan(0);
    expect(rows.rows[0]?.users).toBeGreaterThan(1);
  });

  it('fails queries on the error_rate fault: ERROR lines in error.log, qnwis_errors_total rises', async () => {
    const app = started(appA);
    const bad = await http(app, '/lab/faults', { method: 'POST', headers: ADMIN, body: { error_rate: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('error_rate');
    expect((await http(app, '/lab/faults', { method: 'POST', body: { error_rate: 1 } })).status).toBe(401);

    const errorsBefore = metric(await metrics(app), 'qnwis_errors_total');
    const linesBefore = (await logLines(app, 'error.log')).length;
    const set = await http(app, '/lab/faults', { method: 'POST', headers: ADMIN, body: { error_rate: 1 } });
    expect(set.status).toBe(200);
    expect(set.body.error_rate).toBe(1);
    try {
      const fresh = await waitFor('five new error.log lines', async () => {
        const lines = await logLines(app, 'error.log');
        return lines.length >= linesBefore + 5 && lines.slice(linesBefore);
      });
      for (const line of fresh) {
        expect(line).toContain('ERROR');
        expect(line).toMatch(/query_id=q_2026_\d{6} user_id=analyst_\d+/);
      }
      expect(metric(await metrics(app), 'qnwis_errors_total')).toBeGreaterThan(errorsBefore);
      const rejected = await http(app, '/api/v1/query', {
        method: 'POST',
        headers: { authorization: 'Bearer analyst' },
        body: { question: 'How many workers in Construction?' },
      });
      expect(rejected.status).toBeGreaterThanOrEqual(500);
      expect(rejected.body.detail).toBeTypeOf('string');
    } finally {
      await http(app, '/lab/faults', { method: 'DELETE', headers: ADMIN });
    }
    expect((await http(app, '/lab/faults', { headers: ADMIN })).body.error_rate).toBe(0);
  });

  it('has latency and memory-leak knobs, cleared by DELETE /lab/faults', async () => {
    const app = started(appA);
    const set = await http(app, '/lab/faults', {
      method: 'POST',
      headers: ADMIN,
      body: { latency_ms: 300, memory_leak_mb_per_min: 120 },
    });
    expect(set.status).toBe(200);
    try {
      const slow = await http(app, '/api/v1/query', {
        method: 'POST',
        headers: { authorization: 'Bearer analyst-token' },
        body: { question: 'How many workers were employed in Manufacturing?' },
      });
      expect(slow.status).toBe(200);
      expect(slow.body.duration_ms).toBeGreaterThanOrEqual(300);
      await waitFor('leaked memory', async () => {
        const faults = await http(app, '/lab/faults', { headers: ADMIN });
        return Number(faults.body.leaked_mb) >= 2;
      });
    } finally {
      await http(app, '/lab/faults', { method: 'DELETE', headers: ADMIN });
    }
    expect((await http(app, '/lab/faults', { headers: ADMIN })).body).toMatchObject({
      error_rate: 0,
      latency_ms: 0,
      memory_leak_mb_per_min: 0,
      leaked_mb: 0,
    });
  });

  it('runs POST /api/v1/query through the real query path', async () => {
    const app = started(appA);
    expect((await http(app, '/api/v1/query', { method: 'POST', body: { question: 'x' } })).status).toBe(401);
    const res = await http(app, '/api/v1/query', {
      method: 'POST',
      headers: { authorization: 'Bearer analyst-token' },
      body: { question: 'Employment growth year over year for Qatari women' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: 'complex', cache: expect.stringMatching(/^(hit|miss)$/) });
    expect(res.body.query_id).toMatch(/^q_2026_\d{6}$/);
    expect(Array.isArray(res.body.rows) && res.body.rows.length > 0).toBe(true);
    const invalid = await http(app, '/api/v1/query', {
      method: 'POST',
      headers: { authorization: 'Bearer analyst-token' },
      body: { question: '' },
    });
    expect(invalid.status).toBe(400);
  });

  it('keeps maintenance mode in Redis for the whole fleet and answers 503 to queries', async () => {
    const [a, b] = [started(appA), started(appB)];
    const query = () =>
      http(a, '/api/v1/query', {
        method: 'POST',
        headers: { authorization: 'Bearer analyst-token' },
        body: { question: 'How many workers were employed in Education?' },
      });
    const badBody = await http(a, '/admin/maintenance', {
      method: 'POST',
      headers: ADMIN,
      body: { enabled: 'yes' },
    });
    expect(badBody.status).toBe(400);
    expect(badBody.body.detail).toContain('enabled');
    expect((await http(a, '/admin/maintenance', { method: 'POST', body: { enabled: true } })).status).toBe(
      401,
    );

    const on = await http(a, '/admin/maintenance', {
      method: 'POST',
      headers: ADMIN,
      body: { enabled: true, message: 'Scheduled maintenance in progress' },
    });
    expect(on.status).toBe(200);
    expect(JSON.parse((await redis.get('qnwis:maintenance')) ?? 'null')).toMatchObject({
      enabled: true,
      message: 'Scheduled maintenance in progress',
    });
    const refused = await query();
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toBe('Scheduled maintenance in progress');
    expect((await http(a, '/health')).body.maintenance).toBe(true);
    expect(metric(await metrics(a), 'qnwis_maintenance_mode')).toBe(1);
    // The other instance reads the same key (polled every second).
    await waitFor(
      'app-02 in maintenance',
      async () => (await http(b, '/health')).body.maintenance === true,
      5000,
    );
    expect((await http(b, '/admin/maintenance', { headers: ADMIN })).body).toMatchObject({ enabled: true });

    const off = await http(a, '/admin/maintenance', {
      method: 'POST',
      headers: ADMIN,
      body: { enabled: false },
    });
    expect(off.status).toBe(200);
    expect(JSON.parse((await redis.get('qnwis:maintenance')) ?? 'null')).toMatchObject({ enabled: false });
    expect((await query()).status).toBe(200);
    expect(metric(await metrics(a), 'qnwis_maintenance_mode')).toBe(0);

    const audit = (await logLines(a, 'audit.log')).filter((line) => line.includes('maintenance mode'));
    expect(audit.some((line) => line.includes('maintenance mode enabled'))).toBe(true);
    expect(audit.some((line) => line.includes('maintenance mode disabled'))).toBe(true);
  });

  it('keeps answering /health and /metrics while its database is down', async () => {
    const b = started(appB);
    expect((await http(b, '/health')).status).toBe(200);
    const detailed = await http(b, '/health/detailed', { headers: ADMIN });
    expect(detailed.status).toBe(503);
    expect(detailed.body).toMatchObject({
      status: 'degraded',
      checks: { database: { status: 'error' }, redis: { status: 'ok' } },
    });
    expect(JSON.stringify(detailed.body.checks)).toContain('ECONNREFUSED');
    expect(metric(await metrics(b), 'qnwis_db_connections_active')).toBe(0);
    // The outage is in its error log, as the runbook's first step expects.
    expect((await logLines(b, 'error.log')).some((line) => line.includes('database unavailable'))).toBe(true);
  });

  it('starts and stays up with neither Postgres nor Redis reachable, counting real failures', async () => {
    const c = started(appC);
    expect((await http(c, '/health')).status).toBe(200);
    const detailed = await http(c, '/health/detailed', { headers: ADMIN });
    expect(detailed.status).toBe(503);
    expect(detailed.body).toMatchObject({
      checks: { database: { status: 'error' }, redis: { status: 'error' } },
    });
    const text = await waitFor('redis_unavailable errors', async () => {
      const t = await metrics(c);
      return metric(t, 'qnwis_errors_total', { reason: 'redis_unavailable' }) > 0 && t;
    });
    expect(metric(text, 'qnwis_db_connections_active')).toBe(0);
    expect(metric(text, 'qnwis_cache_requests_total', { result: 'error' })).toBeGreaterThan(0);
    const errors = await logLines(c, 'error.log');
    expect(errors.some((line) => line.includes('Redis error on GET qnwis:cache:query:q_2026_'))).toBe(true);
    // Maintenance cannot be stored without Redis: said plainly, not pretended.
    const refused = await http(c, '/admin/maintenance', {
      method: 'POST',
      headers: ADMIN,
      body: { enabled: true },
    });
    expect(refused.status).toBe(503);
    expect(c.child.exitCode).toBeNull();
  });

  it('exits 0 on SIGTERM to its process group, with every log line flushed', async () => {
    const app = started(appA);
    const pid = app.child.pid;
    if (!pid) throw new Error('no pid');
    // The whole group, as a control-group stop does: the app shuts down cleanly and exits 0.
    process.kill(-pid, 'SIGTERM');
    const exit = await Promise.race([
      app.exited,
      new Promise<never>((_, fail) => setTimeout(() => fail(new Error('no exit within 15s')), 15_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const file of ['app.log', 'error.log', 'audit.log'] as const) {
      for (const line of await logLines(app, file))
        expect(parseJson(line), `${file}: ${line}`).not.toBeNull();
    }
    const last = parseJson((await logLines(app, 'app.log')).at(-1) ?? '');
    expect(last?.msg).toMatch(/^Finished server process \[\d+\]$/);
  });
});
