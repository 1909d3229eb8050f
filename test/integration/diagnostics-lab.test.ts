/**
 * The diagnostics against the running lab with the real adapters (SshRunner, FleetDatabase,
 * FleetCache, fetch): real data from a healthy fleet, then each fault the runbook scenarios are
 * about, injected briefly and healed in `finally`, and hosts that cannot be reached or never answer.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultName, Faults } from '../../lab/faults.js';
import { getHost, type Inventory, parseInventory, serviceUrl } from '../../src/inventory.js';
import { checkHealth } from '../../src/ops/adapters/http.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { parseKnownHosts, pinsFromKnownHosts, SshRunner } from '../../src/ops/adapters/ssh.js';
import type { ErrorLogData } from '../../src/ops/diagnostics/error-log.js';
import type { HealthData } from '../../src/ops/diagnostics/health.js';
import {
  createDiagnosticContext,
  type DiagnosticContext,
  type DiagnosticResult,
  runDiagnostics,
} from '../../src/ops/diagnostics/index.js';
import type { MemoryData } from '../../src/ops/diagnostics/memory.js';
import type { PgActiveQueriesData } from '../../src/ops/diagnostics/pg-active-queries.js';
import type { PgConnectionsData } from '../../src/ops/diagnostics/pg-connections.js';
import type { PgReplicationData } from '../../src/ops/diagnostics/pg-replication.js';
import type { PgSeqScansData } from '../../src/ops/diagnostics/pg-seqscans.js';
import type { PgStatementsData } from '../../src/ops/diagnostics/pg-statements.js';
import type { PgTableSizesData } from '../../src/ops/diagnostics/pg-table-sizes.js';
import { isAppProcess } from '../../src/ops/diagnostics/proc-parse.js';
import type { RedisStatsData } from '../../src/ops/diagnostics/redis-stats.js';
import type { ServiceStatusData } from '../../src/ops/diagnostics/service-status.js';
import { lab, labCredentials, labInventory } from '../support/lab.js';

const MIB = 1024 * 1024;
const STEP_MS = 5_000;

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: DiagnosticContext;
let adminToken: string;
const labFaults = new Faults(lab);
/** Faults this file injected: afterAll heals only these (other test files share the lab). */
const injected = new Set<FaultName>();
const faults = {
  inject: (name: FaultName, host?: string) => {
    injected.add(name);
    return labFaults.inject(name, host);
  },
  heal: async (name: FaultName) => {
    await labFaults.heal(name);
    injected.delete(name);
  },
};

beforeAll(async () => {
  inventory = labInventory();
  const creds = await labCredentials();
  adminToken = creds.adminToken;
  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined });
  ctx = createDiagnosticContext({ inventory, ssh, db, cache, adminToken, stepTimeoutMs: STEP_MS });
});

afterAll(async () => {
  // Whatever a failed test of this file left behind (each test heals in finally; this is a backstop).
  for (const name of injected) await labFaults.heal(name).catch(() => undefined);
  await Promise.all([ssh.close(), db.close(), cache.close()]);
});

async function one<D>(
  diagnostic: string,
  target: string,
  input?: unknown,
  c = ctx,
): Promise<DiagnosticResult<D>> {
  const [r] = await runDiagnostics(c, [{ diagnostic, target, ...(input === undefined ? {} : { input }) }]);
  if (!r) throw new Error('no result');
  return r as DiagnosticResult<D>;
}

/** A result's data, which must be there. */
function dataOf<D>(r: DiagnosticResult | undefined): D {
  if (r?.data === undefined) throw new Error(`no data: ${r?.summary ?? 'no result'}`);
  return r.data as D;
}

/** Runs `fn` until `done` holds (or throws with the last result after `timeoutMs`). */
async function pollUntil<T>(
  fn: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (done(v)) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function waitHealthy(host: string): Promise<void> {
  const url = serviceUrl(inventory.services.get('qnwis')?.healthUrl ?? '', getHost(inventory, host));
  await pollUntil(
    () => checkHealth(url, { timeoutMs: 1_000 }),
    (h) => h.ok,
    20_000,
    `${host} /health`,
  );
}

describe('a healthy fleet', () => {
  it('every diagnostic returns real data, with a summary naming its host', async () => {
    const started = Date.now();
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'service-status', target: 'app-01' },
      { diagnostic: 'service-status', target: 'db-primary' },
      { diagnostic: 'error-log', target: 'app-01' },
      { diagnostic: 'health', target: 'app-01' },
      { diagnostic: 'memory', target: 'app-01' },
      { diagnostic: 'pg-connections', target: 'db-primary' },
      { diagnostic: 'pg-active-queries', target: 'db-primary' },
      { diagnostic: 'pg-statements', target: 'db-primary' },
      { diagnostic: 'pg-seqscans', target: 'db-primary', input: { minSeqScans: 0 } },
      { diagnostic: 'pg-table-sizes', target: 'db-primary' },
      { diagnostic: 'pg-replication', target: 'db-replica' },
      { diagnostic: 'redis-stats', target: 'redis-01' },
      { diagnostic: 'redis-stats', target: 'redis-02' },
      { diagnostic: 'tls-expiry', target: 'fleet' },
    ]);
    const took = Date.now() - started;
    for (const r of results) {
      expect
        .soft(['unreachable', 'timeout'], `${r.diagnostic} ${r.target}: ${r.summary}`)
        .not.toContain(r.status);
      expect.soft(r.summary.startsWith(`${r.target}: `), r.summary).toBe(true);
      expect.soft(r.summary).not.toMatch(/\n/);
      expect.soft(r.data, `${r.diagnostic} ${r.target}`).toBeDefined();
    }
    expect(took).toBeLessThan(STEP_MS + 1_000);
    const [svc, pgSvc, errors, health, mem, conns, active, stmts, seq, sizes, repl, redis1, redis2, tls] =
      results;

    expect(svc).toMatchObject({ status: 'ok', data: { unit: 'qnwis', state: 'active', exitCode: 0 } });
    expect(dataOf<ServiceStatusData>(svc).journal.length).toBeGreaterThan(0);
    expect(dataOf<ServiceStatusData>(svc).journal.length).toBeLessThanOrEqual(20);
    expect(pgSvc).toMatchObject({ status: 'ok', data: { unit: 'postgresql', state: 'active' } });

    expect(errors?.data).toMatchObject({
      file: '/var/log/qnwis/error.log',
      linesSearched: 500,
      service: 'qnwis',
    });

    const h = health?.data as HealthData;
    expect(h.health).toMatchObject({ httpStatus: 200, ok: true, reported: 'healthy' });
    expect(h.detailed?.checks.database?.status).toBe('ok');
    expect(h.detailed?.checks.redis?.status).toBe('ok');
    expect(health?.summary).toMatch(
      /^app-01: \/health 200 in \d+ ms; healthy: database ok \(\d+ ms\), redis ok \(\d+ ms\)$/,
    );

    const m = mem?.data as MemoryData;
    expect(m.totalBytes).toBe(1024 * MIB); // the lab shim's per-host budget
    expect(m.appProcesses.map((p) => p.args)).toContain('qnwis-app app-01');
    expect(m.top.every((p) => p.args !== 'qnwis-app app-02')).toBe(true); // only app-01's processes

    const c = conns?.data as PgConnectionsData;
    expect(c.total).toBeGreaterThan(0);
    expect(c.clients.map((x) => x.client)).toEqual(expect.arrayContaining(['qnwis-app app-01']));
    expect(c.appPoolSize).toBe(20);

    expect(dataOf<PgActiveQueriesData>(active).minAgeMs).toBe(5_000);
    const s = stmts?.data as PgStatementsData;
    expect(s.available).toBe(true);
    expect(s.statements.length).toBeGreaterThan(0);
    expect(dataOf<PgSeqScansData>(seq).tables.map((t) => t.table)).toContain('qtr_employment_stats');
    const sz = sizes?.data as PgTableSizesData;
    expect(sz.tables.find((t) => t.table === 'qtr_employment_stats')?.totalBytes).toBeGreaterThan(MIB);

    const rp = repl?.data as PgReplicationData;
    expect(repl?.status).toBe('ok');
    expect(rp.replicas[0]?.view).toMatchObject({ role: 'replica', walReceiverStatus: 'streaming' });
    expect(rp.replicas[0]?.lagSeconds).toBeLessThan(5);
    expect(rp.replicas[0]?.standby?.state).toBe('streaming');
    expect(rp.primary.view?.role).toBe('primary');
    expect(repl?.summary).toMatch(/^db-replica: db-replica streaming from db-primary, lag [\d.]+ s/);

    expect(redis1?.data).toMatchObject({ role: 'master' });
    expect(dataOf<RedisStatsData>(redis1).connectedReplicas).toBeGreaterThanOrEqual(1);
    expect(redis2?.data).toMatchObject({ role: 'slave', masterLinkStatus: 'up' });
    // The lab's load balancer serves a certbot-managed certificate on :443 (issued by the lab CA).
    expect(tls?.summary).toMatch(/^fleet: 127\.0\.4\.1:443 certificate expires in \d+ days/);
    expect(['ok', 'warn']).toContain(tls?.status);
  });

  it('pg-replication from the primary’s side lists the replica, lag done right', async () => {
    const r = await one<PgReplicationData>('pg-replication', 'db-primary');
    expect(r.status).toBe('ok');
    expect(r.data?.replicas.map((x) => x.host)).toEqual(['db-replica']);
    expect(r.data?.replicas[0]?.bytesBehind).toBeLessThan(16 * MIB);
    expect(r.summary).toMatch(/^db-primary: db-replica streaming from db-primary, lag /);
  });
});

describe('faults (each healed in finally)', () => {
  it('error-rate on app-01: error-log groups the injected ERROR lines into patterns', async () => {
    const injectedAt = Date.now();
    try {
      await faults.inject('error-rate', 'app-01');
      const r = await pollUntil(
        () => one<ErrorLogData>('error-log', 'app-01'),
        (r) =>
          r.data?.patterns.some(
            (p) =>
              p.pattern.includes('connection pool exhausted') && Date.parse(p.lastAt ?? '') >= injectedAt,
          ) ?? false,
        20_000,
        'a fresh "connection pool exhausted" pattern',
      );
      expect(['warn', 'error']).toContain(r.status);
      expect(r.data?.errorLines).toBeGreaterThan(0);
      expect(r.data?.recentErrorLines).toBeGreaterThan(0);
      const pool = r.data?.patterns.find((p) => p.pattern.includes('connection pool exhausted'));
      expect(pool?.pattern).toBe('query failed: connection pool exhausted (pool size <n>, <n> waiting)');
      expect(pool?.count).toBeGreaterThan(0);
      expect(pool?.example).toMatch(
        /^query failed: connection pool exhausted \(pool size 20, \d+ waiting\) query_id=q_\d{4}_\d+/,
      );
      expect(r.summary).toMatch(
        /^app-01: \d+ ERROR lines?( .*)? in the last 500 lines of \/var\/log\/qnwis\/error\.log.*top: '.+' ×\d+$/,
      );
    } finally {
      await faults.heal('error-rate');
    }
  });

  it('down on app-02: service-status says inactive, health says unreachable', async () => {
    try {
      await faults.inject('down', 'app-02');
      const [svc, health] = await runDiagnostics(ctx, [
        { diagnostic: 'service-status', target: 'app-02' },
        { diagnostic: 'health', target: 'app-02' },
      ]);
      expect(svc).toMatchObject({ status: 'error', data: { state: 'inactive', exitCode: 3 } });
      expect(svc?.summary).toMatch(
        /^app-02: qnwis is inactive \(is-active exit 3\); last journal line: .*Stopped/,
      );
      expect(health?.status).toBe('unreachable');
      expect(health?.summary).toBe(
        'app-02: /health unreachable (ECONNREFUSED) — the app is not answering on 127.0.1.2:8000/health',
      );
    } finally {
      await faults.heal('down');
      await waitHealthy('app-02');
    }
  });

  it('slow-query: pg-active-queries lists the long query’s pid and text; table sizes say a lock blocks them', async () => {
    try {
      await faults.inject('slow-query');
      const r = await pollUntil(
        () => one<PgActiveQueriesData>('pg-active-queries', 'db-primary'),
        (r) => r.data?.queries.some((q) => q.query.includes('pg_sleep')) ?? false,
        15_000,
        'the pg_sleep query to be active for 5 s',
      );
      const q = r.data?.queries.find((x) => x.query.includes('pg_sleep'));
      expect(q?.pid).toBeGreaterThan(0);
      expect(q?.user).toBe('qnwis_reports');
      expect(q?.ageMs).toBeGreaterThanOrEqual(5_000);
      expect(q?.query).toContain('LOCK TABLE qtr_employment_stats');
      expect(r.status).toBe('warn');
      expect(r.summary).toContain(`oldest pid ${q?.pid} (qnwis_reports/quarterly-report`);
      expect(r.summary).toContain('pg_sleep(3600)');

      const sizes = await one<PgTableSizesData>('pg-table-sizes', 'db-primary');
      expect(sizes.status).toBe('warn');
      expect(sizes.summary).toMatch(/^db-primary: table sizes blocked — a session holds an exclusive lock/);
      expect(sizes.durationMs).toBeLessThan(3_000);
    } finally {
      await faults.heal('slow-query');
    }
  });

  it('cache-miss: redis-stats shows maxmemory 1 B, evictions and the low hit rate', async () => {
    try {
      await faults.inject('cache-miss');
      const r = await pollUntil(
        () => one<RedisStatsData>('redis-stats', 'redis-01'),
        (r) => r.data?.maxmemoryBytes === 1,
        10_000,
        'maxmemory 1',
      );
      expect(r.status).toBe('error');
      expect(r.data?.maxmemoryPolicy).toBe('volatile-lru');
      expect(r.summary).toMatch(/^redis-01: maxmemory is 1 B: nothing can stay cached/);
      // Every key is evicted: the app's lookups in the sample window miss.
      const w = r.data?.window;
      if (w && w.hits + w.misses > 0) expect(w.hitRate).toBeLessThan(0.5);
    } finally {
      await faults.heal('cache-miss');
    }
  });

  it('memory on app-03: the qnwis app process is the top RSS, hundreds of MiB, on app-03 only', async () => {
    try {
      await faults.inject('memory', 'app-03');
      const r = await pollUntil(
        () => one<MemoryData>('memory', 'app-03'),
        (r) => r.status === 'error' && (r.data?.top[0]?.rssBytes ?? 0) >= 500 * MIB,
        30_000,
        'app-03 to run out of memory',
      );
      const top = r.data?.top[0];
      expect(top && isAppProcess(top)).toBe(true);
      expect(top?.args).toBe('qnwis-app app-03');
      expect(r.data?.appProcesses[0]?.pid).toBe(top?.pid);
      expect(r.data?.usedFraction).toBeGreaterThanOrEqual(0.95);
      expect(r.summary).toMatch(
        new RegExp(
          `^app-03: memory \\d+ % used \\(.+\\); top RSS: pid ${top?.pid} qnwis-app app-0 [\\d.]+ (MiB|GiB)`,
        ),
      );
      const other = await one<MemoryData>('memory', 'app-01');
      expect(other.data?.top[0]?.rssBytes).toBeLessThan(300 * MIB);
    } finally {
      await faults.heal('memory');
      await waitHealthy('app-03');
    }
  });
});

describe('hosts that cannot be reached', () => {
  /** The lab inventory with app-02 moved to `address` (host key pinned inline, so only the address differs). */
  function inventoryWithApp02At(address: string): Inventory {
    const app02 = getHost(inventory, 'app-02');
    const knownHosts = parseKnownHosts(readFileSync(app02.ssh.knownHostsPath ?? '', 'utf8'));
    const [pin] = pinsFromKnownHosts(knownHosts, app02.address, app02.ssh.port, 'known_hosts').accepted;
    const yaml = readFileSync(inventory.source, 'utf8').replace(
      /app-02: \{ address: [0-9.]+, roles: \[app\] \}/,
      `app-02: { address: ${address}, roles: [app], ssh: { host_key: "${pin}" } }`,
    );
    const copy = parseInventory(yaml, inventory.source);
    expect(getHost(copy, 'app-02').address).toBe(address);
    return copy;
  }

  it('a refused address is "unreachable" within the deadline while the other hosts still report', async () => {
    const copy = inventoryWithApp02At('127.0.9.99');
    const c = createDiagnosticContext({ inventory: copy, ssh, db, cache, adminToken, stepTimeoutMs: 3_000 });
    const started = Date.now();
    const results = await runDiagnostics(c, [
      { diagnostic: 'service-status', target: 'app-01' },
      { diagnostic: 'service-status', target: 'app-02' },
      { diagnostic: 'memory', target: 'app-02' },
      { diagnostic: 'error-log', target: 'app-02' },
      { diagnostic: 'health', target: 'app-02' },
      { diagnostic: 'memory', target: 'app-03' },
      { diagnostic: 'pg-connections', target: 'db-primary' },
      { diagnostic: 'redis-stats', target: 'redis-01', input: { sampleMs: 0 } },
    ]);
    expect(Date.now() - started).toBeLessThan(3_000 + 1_000);
    const byKey = (d: string, t: string) => results.find((r) => r.diagnostic === d && r.target === t);
    for (const d of ['service-status', 'memory', 'error-log', 'health']) {
      expect(byKey(d, 'app-02')?.status, d).toBe('unreachable');
    }
    expect(byKey('service-status', 'app-02')?.summary).toBe(
      'app-02: service-status — not reachable over SSH (cannot connect to 127.0.9.99:2222: ECONNREFUSED)',
    );
    expect(byKey('health', 'app-02')?.summary).toMatch(/^app-02: \/health unreachable \(ECONNREFUSED\)/);
    expect(byKey('service-status', 'app-01')?.status).toBe('ok');
    expect(byKey('memory', 'app-03')?.data).toBeDefined();
    expect(byKey('pg-connections', 'db-primary')?.data).toBeDefined();
    expect(byKey('redis-stats', 'redis-01')?.data).toBeDefined();
  });

  it('a host that accepts TCP but never speaks SSH is a "timeout" at stepTimeoutMs + 1 s, never a hang', async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(2222, '127.0.9.98', r));
    // A runner whose own connect timeout is longer than the step: the runner's deadline must win.
    const patient = new SshRunner({ connectTimeoutMs: 15_000 });
    try {
      const c = createDiagnosticContext({
        inventory: inventoryWithApp02At('127.0.9.98'),
        ssh: patient,
        db,
        cache,
        adminToken,
        stepTimeoutMs: 2_000,
      });
      const started = Date.now();
      const results = await runDiagnostics(c, [
        { diagnostic: 'service-status', target: 'app-02' },
        { diagnostic: 'service-status', target: 'app-01' },
      ]);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(2_900);
      expect(took).toBeLessThan(3_600);
      expect(results[0]).toMatchObject({ target: 'app-02', status: 'timeout' });
      expect(results[0]?.summary).toBe(
        'app-02: service-status did not finish within 3000 ms (step deadline); the host or service may be hanging',
      );
      expect(results[1]?.status).toBe('ok');
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
      await patient.close();
    }
  });
});
