/**
 * FleetDatabase against a real, disposable PostgreSQL 15 primary + streaming replica started with
 * lab/components/postgres.ts in a fresh temp dir. Addresses 127.0.9.1 / 127.0.9.2 (port 5432) are
 * reserved for this file; the lab uses 127.0.2.x and the machine's own server 127.0.0.1.
 *
 * The tests run in order: terminate, then replication lag, then promotion (which ends replication).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapQnwisDatabase,
  createReplica,
  initPrimary,
  startCluster,
  stopCluster,
} from '../../lab/components/postgres.js';
import {
  DatabaseReadOnlyError,
  DatabaseTimeoutError,
  DatabaseUnreachableError,
  InvalidArgumentError,
  UnknownHostError,
} from '../../src/errors.js';
import type { Host, HostRole } from '../../src/inventory.js';
import { type ActiveQuery, classifyPgError, FleetDatabase } from '../../src/ops/adapters/postgres.js';

const PRIMARY = { address: '127.0.9.1', port: 5432 };
const REPLICA = { address: '127.0.9.2', port: 5432 };
const secret = () => randomBytes(12).toString('hex');
const pw = { superuser: secret(), replicator: secret(), app: secret(), ops: secret() };

function dbHost(name: string, address: string, role: HostRole): Host {
  return {
    name,
    address,
    roles: [role],
    description: undefined,
    ssh: { port: 22, user: 'root', keyPath: '/nonexistent', hostKey: undefined, knownHostsPath: undefined },
  };
}

const primary = dbHost('db-primary', PRIMARY.address, 'db-primary');
const replica = dbHost('db-replica', REPLICA.address, 'db-replica');

let dir: string;
let db: FleetDatabase;
const extraClients: pg.Client[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A plain pg client, like the app's or psql: the adapter must see and act on it. */
async function client(
  target: { host: string; port: number; user: string; password?: string },
  database = 'qnwis_prod',
): Promise<{ c: pg.Client; errors: Error[] }> {
  const c = new pg.Client({ ...target, database, application_name: 'test-victim' });
  const errors: Error[] = [];
  // A terminated backend also emits 'error' on the client (LAB-NOTES); unhandled it would crash.
  c.on('error', (err) => errors.push(err));
  await c.connect();
  extraClients.push(c);
  return { c, errors };
}

const asApp = (address: string) => ({ host: address, port: 5432, user: 'qnwis', password: pw.app });
/** Superuser over the cluster's own socket (peer identity root → postgres via pg_ident.conf). */
const asAdmin = (socketDir: string) => ({ host: socketDir, port: 5432, user: 'postgres' });

beforeAll(async () => {
  const started = Date.now();
  dir = mkdtempSync(path.join(os.tmpdir(), 'qnwis-pg-adapter-'));
  chmodSync(dir, 0o755); // postgres must traverse it
  await initPrimary({
    dataDir: path.join(dir, 'primary'),
    address: PRIMARY.address,
    port: PRIMARY.port,
    socketDir: path.join(dir, 'primary-socket'),
    logFile: path.join(dir, 'primary.log'),
    superuserPassword: pw.superuser,
  });
  await startCluster({ dataDir: path.join(dir, 'primary'), logFile: path.join(dir, 'primary.log') });
  await bootstrapQnwisDatabase({
    ...PRIMARY,
    superuser: 'postgres',
    password: pw.superuser,
    roles: {
      replicator: { name: 'replicator', password: pw.replicator },
      app: { name: 'qnwis', password: pw.app },
      ops: { name: 'qnwis_ops', password: pw.ops },
    },
  });
  await createReplica({
    primary: {
      ...PRIMARY,
      user: 'replicator',
      password: pw.replicator,
      socketDir: path.join(dir, 'primary-socket'),
    },
    dataDir: path.join(dir, 'replica'),
    address: REPLICA.address,
    port: REPLICA.port,
    socketDir: path.join(dir, 'replica-socket'),
    logFile: path.join(dir, 'replica.log'),
    slotName: 'qnwis_test_replica',
  });
  console.log(`primary + streaming replica up in ${Date.now() - started} ms`);
  db = new FleetDatabase({
    database: { name: 'qnwis_prod', port: 5432, user: 'qnwis_ops', appPoolSize: 20 },
    password: pw.ops,
  });
});

afterAll(async () => {
  await db?.close();
  await Promise.all(extraClients.map((c) => c.end().catch(() => {})));
  if (!dir) return;
  for (const name of ['replica', 'primary']) {
    await stopCluster({ dataDir: path.join(dir, name), mode: 'immediate' }).catch((err) =>
      console.error(err),
    );
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('FleetDatabase: connections and slow queries (runbook Scenario 2)', () => {
  it('counts connections to the inventory database, apart from its own', async () => {
    const { c } = await client(asApp(PRIMARY.address));
    await c.query('SELECT 1');
    const count = await db.connectionCount(primary);
    expect(count).toMatchObject({ database: 'qnwis_prod', appPoolSize: 20, maxConnections: 100 });
    expect(count.total).toBeGreaterThanOrEqual(1);
    expect(count.idle).toBeGreaterThanOrEqual(1);
  });

  it('finds a real pg_sleep(600) and terminates it; a stale expectation is refused', async () => {
    const { c: victim, errors } = await client(asApp(PRIMARY.address));
    const pidRow = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const victimPid = pidRow.rows[0]?.pid;
    const sleeping = victim.query('SELECT pg_sleep(600)').then(
      () => undefined,
      (err: Error & { code?: string }) => ({ err, at: Date.now() }),
    );

    const found = await poll<ActiveQuery>('pg_sleep in activeQueries', async () =>
      (await db.activeQueries(primary, { olderThanMs: 300 })).find((q) => q.pid === victimPid),
    );
    expect(found).toMatchObject({
      user: 'qnwis',
      database: 'qnwis_prod',
      state: 'active',
      query: 'SELECT pg_sleep(600)',
    });
    expect(found.ageMs).toBeGreaterThanOrEqual(300);
    expect(found.queryStart).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // The threshold is honoured: nothing this young is "slow".
    expect(
      (await db.activeQueries(primary, { olderThanMs: 3_600_000 })).some((q) => q.pid === victimPid),
    ).toBe(false);

    // What an approval captured minutes ago no longer matches: another statement start, another text.
    const staleStart = new Date(Date.parse(found.queryStart) - 60_000).toISOString();
    expect(await db.terminateBackend(primary, found.pid, { queryStart: staleStart })).toMatchObject({
      terminated: false,
      reason: 'changed',
      current: { queryStart: found.queryStart, query: 'SELECT pg_sleep(600)' },
    });
    expect(
      await db.terminateBackend(primary, found.pid, { ...found, query: 'SELECT pg_sleep(601)' }),
    ).toMatchObject({
      terminated: false,
      reason: 'changed',
    });
    expect(await db.terminateBackend(primary, found.pid, { backendStart: staleStart })).toMatchObject({
      terminated: false,
      reason: 'changed',
    });
    // Refused means untouched.
    await sleep(100);
    expect(errors).toEqual([]);

    const t0 = Date.now();
    const result = await db.terminateBackend(primary, found.pid, {
      queryStart: found.queryStart,
      backendStart: found.backendStart,
      query: found.query,
    });
    expect(result).toEqual({ terminated: true, pid: found.pid });
    const outcome = await sleeping;
    expect(outcome?.err.code).toBe('57P01'); // admin_shutdown: terminating connection due to administrator command
    expect((outcome?.at ?? Number.POSITIVE_INFINITY) - t0).toBeLessThan(2_000);
    expect((await db.activeQueries(primary, { olderThanMs: 0 })).some((q) => q.pid === victimPid)).toBe(
      false,
    );
    expect(await db.terminateBackend(primary, found.pid)).toMatchObject({
      terminated: false,
      reason: 'not_found',
    });
  });

  it('does not kill a session whose approved statement has already finished', async () => {
    const { c: victim, errors } = await client(asApp(PRIMARY.address));
    const pidRow = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const running = victim.query('SELECT pg_sleep(0.8)');
    const seen = await poll('short sleep in activeQueries', async () =>
      (await db.activeQueries(primary, { olderThanMs: 0 })).find((q) => q.pid === pidRow.rows[0]?.pid),
    );
    await running;
    expect(await db.terminateBackend(primary, seen.pid, seen)).toMatchObject({
      terminated: false,
      reason: 'finished',
      current: { state: 'idle' },
    });
    await victim.query('SELECT 1'); // still alive
    expect(errors).toEqual([]);
  });

  it("reports a superuser's backend as not permitted (pg_signal_backend cannot signal it)", async () => {
    const { c: su } = await client(asAdmin(path.join(dir, 'primary-socket')));
    const pidRow = await su.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const suPid = pidRow.rows[0]?.pid ?? -1;
    const sleeping = su.query('SELECT pg_sleep(600)').catch((err: Error & { code?: string }) => err.code);
    await poll('superuser sleep', async () =>
      (await db.activeQueries(primary, { olderThanMs: 0 })).find((q) => q.pid === suPid),
    );
    expect(await db.terminateBackend(primary, suPid)).toMatchObject({
      terminated: false,
      reason: 'not_permitted',
    });
    const { c: admin } = await client(asAdmin(path.join(dir, 'primary-socket')), 'postgres');
    await admin.query('SELECT pg_cancel_backend($1)', [suPid]);
    expect(await sleeping).toBe('57014');
  });

  it('validates arguments before sending anything', async () => {
    await expect(db.terminateBackend(primary, -1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(db.terminateBackend(primary, 1.5)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(db.terminateBackend(primary, 123, { queryStart: 'yesterday' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(db.activeQueries(primary, { olderThanMs: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const notDb = { ...primary, name: 'app-01', roles: ['app'] as HostRole[] };
    await expect(db.isInRecovery(notDb)).rejects.toBeInstanceOf(UnknownHostError);
  });
});

describe('FleetDatabase: replication lag', () => {
  it('is 0 on an idle, caught-up replica (where now() - pg_last_xact_replay_timestamp() says seconds)', async () => {
    const { c: app } = await client(asApp(PRIMARY.address));
    await app.query(
      'CREATE TABLE IF NOT EXISTS lag_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())',
    );
    await app.query('INSERT INTO lag_probe DEFAULT VALUES');

    await poll('replica caught up', async () => {
      const s = await db.replicationStatus(replica);
      return s.role === 'replica' && s.lagSeconds === 0 && s.lagBytes === 0 ? s : undefined;
    });
    // Stay idle: the naive formula grows with the primary's idle time, the real lag does not.
    // (Polled: a WAL record without a commit, e.g. a checkpoint, is "received, not yet replayed"
    // for a fraction of a millisecond, and then reads as the time since the last commit.)
    await sleep(1_500);
    const status = await poll('idle replica at lag 0', async () => {
      const s = await db.replicationStatus(replica);
      return s.role === 'replica' && s.lagSeconds === 0 ? s : undefined;
    });
    expect(status).toMatchObject({ role: 'replica', lagSeconds: 0, lagBytes: 0, replayPaused: false });
    if (status.role !== 'replica') throw new Error('unreachable');
    expect(status.walReceiverStatus).toBe('streaming');
    expect(status.senderHost).toBe(PRIMARY.address);
    expect(status.receiveLsn).toBe(status.replayLsn);
    const { c: ops } = await client({
      host: REPLICA.address,
      port: 5432,
      user: 'qnwis_ops',
      password: pw.ops,
    });
    const naive = await ops.query<{ s: number }>(
      'SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS s',
    );
    console.log(
      `idle replica: lagSeconds=0, naive now()-pg_last_xact_replay_timestamp()=${naive.rows[0]?.s.toFixed(2)} s`,
    );
    expect(naive.rows[0]?.s).toBeGreaterThan(1);

    const onPrimary = await db.replicationStatus(primary);
    expect(onPrimary.role).toBe('primary');
    if (onPrimary.role !== 'primary') throw new Error('unreachable');
    expect(onPrimary.standbys).toHaveLength(1);
    expect(onPrimary.standbys[0]).toMatchObject({
      applicationName: 'replica',
      state: 'streaming',
      user: 'replicator',
    });
  });

  it('is > 0 in seconds and bytes while replay is paused and the primary writes', async () => {
    const { c: admin } = await client(asAdmin(path.join(dir, 'replica-socket')), 'postgres');
    const { c: app } = await client(asApp(PRIMARY.address));
    await admin.query('SELECT pg_wal_replay_pause()');
    try {
      await app.query('INSERT INTO lag_probe (at) SELECT now() FROM generate_series(1, 1000)');
      const lagging = await poll('replica lag > 0', async () => {
        const s = await db.replicationStatus(replica);
        return s.role === 'replica' && (s.lagBytes ?? 0) > 0 && (s.lagSeconds ?? 0) > 0 ? s : undefined;
      });
      expect(lagging).toMatchObject({ role: 'replica', replayPaused: true });
      if (lagging.role !== 'replica') throw new Error('unreachable');
      expect(lagging.receiveLsn).not.toBe(lagging.replayLsn);
      const onPrimary = await poll('primary sees the lag', async () => {
        const s = await db.replicationStatus(primary);
        return s.role === 'primary' && (s.standbys[0]?.replayLagBytes ?? 0) > 0 ? s : undefined;
      });
      if (onPrimary.role !== 'primary') throw new Error('unreachable');
      console.log(
        `paused replay: replica lagSeconds=${lagging.lagSeconds?.toFixed(2)} lagBytes=${lagging.lagBytes}; ` +
          `primary replayLagBytes=${onPrimary.standbys[0]?.replayLagBytes}`,
      );
    } finally {
      await admin.query('SELECT pg_wal_replay_resume()');
    }
    await poll('replica caught up again', async () => {
      const s = await db.replicationStatus(replica);
      return s.role === 'replica' && s.lagBytes === 0 && s.lagSeconds === 0 ? s : undefined;
    });
  });
});

describe('FleetDatabase: failover (disaster recovery step 1)', () => {
  it('refuses a write on the replica as read-only, promotes it, and then the write succeeds', async () => {
    expect(await db.isInRecovery(replica)).toBe(true);
    const refused = await db.probeWrite(replica).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DatabaseReadOnlyError);
    expect(refused).toMatchObject({
      code: 'db_read_only',
      sqlState: '25006',
      transient: false,
      host: 'db-replica',
    });

    const result = await db.promote(replica, { waitSeconds: 20 });
    expect(result.promoted).toBe(true);
    console.log(`pg_promote(true, 20) returned after ${result.promoted ? result.tookMs : '?'} ms`);
    expect(await db.isInRecovery(replica)).toBe(false);
    expect(await db.probeWrite(replica)).toMatchObject({ writable: true });
    expect((await db.replicationStatus(replica)).role).toBe('primary');
    // A repeated failover job is harmless.
    expect(await db.promote(replica, { waitSeconds: 5 })).toEqual({
      promoted: false,
      reason: 'not_in_recovery',
    });
  });
});

describe('FleetDatabase: typed failures', () => {
  it('an address with no server is unreachable (transient)', async () => {
    const nowhere = new FleetDatabase({
      database: { name: 'qnwis_prod', port: 5432, user: 'qnwis_ops', appPoolSize: 20 },
      password: pw.ops,
      connectTimeoutMs: 1_000,
    });
    try {
      const err = await nowhere
        .isInRecovery(dbHost('db-gone', '127.0.9.9', 'db-replica'))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseUnreachableError);
      expect(err).toMatchObject({ code: 'db_unreachable', transient: true, host: 'db-gone' });
      expect(String((err as Error).message)).not.toContain(pw.ops);
    } finally {
      await nowhere.close();
    }
  });

  it('a wrong password is a permanent error with its SQLSTATE', async () => {
    const wrong = new FleetDatabase({
      database: { name: 'qnwis_prod', port: 5432, user: 'qnwis_ops', appPoolSize: 20 },
      password: 'not-the-password',
    });
    try {
      const err = await wrong.isInRecovery(primary).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'db_error', sqlState: '28P01', transient: false });
      expect(String((err as Error).message)).not.toContain('not-the-password');
    } finally {
      await wrong.close();
    }
  });

  it('classifies real statement and client timeouts', async () => {
    const { c } = await client({ host: PRIMARY.address, port: 5432, user: 'qnwis_ops', password: pw.ops });
    await c.query("SET statement_timeout = '100ms'");
    const serverSide = await c.query('SELECT pg_sleep(2)').catch((e: unknown) => e);
    const typed = classifyPgError(serverSide, 'db-primary', { statementMs: 100, clientMs: 2_000 });
    expect(typed).toBeInstanceOf(DatabaseTimeoutError);
    expect(typed).toMatchObject({ phase: 'statement', transient: true });

    const { c: c2 } = await client({
      host: PRIMARY.address,
      port: 5432,
      user: 'qnwis_ops',
      password: pw.ops,
    });
    const clientSide = await c2
      .query({ text: 'SELECT pg_sleep(1)', query_timeout: 100 } as pg.QueryConfig)
      .catch((e: unknown) => e);
    expect(classifyPgError(clientSide, 'db-primary', { statementMs: 5_000, clientMs: 100 })).toMatchObject({
      code: 'db_timeout',
      phase: 'client',
    });
  });
});
