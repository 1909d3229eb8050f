/**
 * `failover` against the lab with the real adapters, the runbook's Disaster Recovery for real:
 * while db-primary answers the precheck refuses; once it is stopped (the db-down fault), plan →
 * precheck → run → verify promotes db-replica, rewrites /etc/qnwis/.env on every app host, restarts
 * them one by one and proves writes land on the new primary. Checked independently of the command:
 * db-replica is out of recovery, every app host's settings file names it, every app's
 * /health/detailed has its database ok, its connections are on db-replica and its audit rows (the
 * app's own writes) are committed there. Then the lab's restore (`heal failover`) brings back the
 * original topology, which is asserted too.
 *
 * A failover disrupts everyone using the lab: the file holds /work/main/.lab/EXCLUSIVE from the
 * first test to the last (waiting, every 10 s, while someone else holds it).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabCredentials } from '../../lab/credentials.js';
import { Faults } from '../../lab/faults.js';
import { getHost, type Inventory } from '../../src/inventory.js';
import { checkHealth } from '../../src/ops/adapters/http.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import { SshRunner } from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  createCommandContext,
  type FailoverArgs,
  failover,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { lab, labCredentials, labInventory } from '../support/lab.js';

const EXCLUSIVE = path.join(lab.dir, 'EXCLUSIVE');
const OWNER = `command-failover.test.ts (pid ${process.pid})`;
const APPS = ['app-01', 'app-02', 'app-03'] as const;

let inventory: Inventory;
let creds: LabCredentials;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
let faults: Faults;
let holding = false;
let restored = false;

async function takeExclusive(): Promise<void> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      writeFileSync(EXCLUSIVE, `${OWNER}\n`, { flag: 'wx' });
      holding = true;
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (Date.now() > deadline)
      throw new Error(`${EXCLUSIVE} is still held by ${readFileSync(EXCLUSIVE, 'utf8').trim()}`);
    await sleep(10_000);
  }
}

function releaseExclusive(): void {
  if (holding && existsSync(EXCLUSIVE) && readFileSync(EXCLUSIVE, 'utf8').trim() === OWNER) rmSync(EXCLUSIVE);
  holding = false;
}

/** psql as the superuser on a lab database host, in qnwis_prod; '' when it does not answer. */
async function sql(host: string, text: string): Promise<string> {
  return lab.psql(getHost(inventory, host), creds, text, inventory.database.name).catch(() => '');
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function settingOf(host: string): string | undefined {
  return /^DATABASE_HOST=(.*)$/m.exec(readFileSync(lab.appSettingsPath(host), 'utf8'))?.[1];
}

async function detailedHealth(host: string) {
  const h = getHost(inventory, host);
  return checkHealth(`http://${h.address}:8000/health/detailed`, {
    bearerToken: creds.adminToken,
    timeoutMs: 3_000,
  });
}

/** Distinct app hosts with a connection to qnwis_prod on `dbHost`. */
async function appsConnectedTo(dbHost: string): Promise<string> {
  return sql(
    dbHost,
    "SELECT string_agg(DISTINCT application_name, ',' ORDER BY application_name) FROM pg_stat_activity WHERE application_name LIKE 'qnwis-app %'",
  );
}

function parsedArgs(raw: unknown): FailoverArgs {
  const r = parseCommand('failover', raw, inventory);
  if (!r.ok || r.command.name !== 'failover') throw new Error(r.ok ? 'not failover' : r.error);
  return r.command.args;
}

beforeAll(async () => {
  await takeExclusive();
  inventory = labInventory();
  creds = await labCredentials();
  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined });
  ctx = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db,
      cache,
      adminToken: creds.adminToken,
      stepTimeoutMs: 5_000,
    }),
  );
  faults = new Faults(lab);
  // The lab as everyone expects it: db-primary primary, db-replica its standby, apps on db-primary.
  expect(await sql('db-primary', 'SELECT pg_is_in_recovery()')).toBe('f');
  expect(await sql('db-replica', 'SELECT pg_is_in_recovery()')).toBe('t');
  for (const h of APPS) expect(settingOf(h)).toBe('127.0.2.1');
}, 20 * 60_000);

afterAll(async () => {
  try {
    if (!restored) await faults.restore('failover');
  } finally {
    await Promise.all([ssh?.close(), db?.close(), cache?.close()]);
    releaseExclusive();
  }
}, 180_000);

describe('failover in the lab', () => {
  it('refuses while db-primary still accepts connections (no --force)', async () => {
    const a = parsedArgs({});
    const plan = await failover.plan(ctx, a);
    const pre = await failover.precheck(ctx, a, plan);
    expect(pre).toEqual({
      ok: false,
      reason:
        'db-primary still accepts connections (it answers as a primary): a failover now would leave two primaries. Stop it first, or request failover --force',
    });
    expect(await sql('db-replica', 'SELECT pg_is_in_recovery()')).toBe('t');
  });

  it('db-primary down: promotes db-replica, repoints and restarts every app host, writes land on db-replica', async () => {
    await faults.inject('db-down');
    await waitUntil(
      'db-primary to refuse connections',
      async () => (await sql('db-primary', 'SELECT 1')) === '',
      15_000,
    );

    const a = parsedArgs({ to: 'db-replica' });
    const plan = await failover.plan(ctx, a);
    const pre = await failover.precheck(ctx, a, plan);
    expect(pre.ok, pre.ok ? '' : pre.reason).toBe(true);
    expect(pre.ok && pre.detail).toMatch(
      /^db-replica is a standby [0-9.]+ s behind \(limit 30 s\); db-primary does not accept connections \(.*\); DATABASE_HOST now: app-01 127\.0\.2\.1, app-02 127\.0\.2\.1, app-03 127\.0\.2\.1$/,
    );

    const progress: StepProgress[] = [];
    const started = Date.now();
    const outcome = await failover.run(
      ctx,
      a,
      plan,
      async (p) => {
        progress.push(p);
      },
      new AbortController().signal,
    );
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    // Every step reported running then done, one at a time, in the plan's order.
    expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual(
      plan.steps.flatMap((s) => [`${s.id}:running`, `${s.id}:done`]),
    );
    const detail = (id: string) => outcome.steps.find((s) => s.stepId === id)?.detail ?? '';
    expect(detail('promote')).toMatch(/^db-replica promoted in \d+ ms$/);
    expect(detail('wait-writable')).toMatch(
      /^db-replica accepts writes \(write committed in \d+ ms\) after /,
    );
    for (const h of APPS) {
      expect(detail(`repoint-${h}`)).toBe(`${h}: DATABASE_HOST 127.0.2.1 → 127.0.2.2 in /etc/qnwis/.env`);
      expect(detail(`restart-${h}`)).toMatch(
        /^qnwis MainPID \d+; systemctl restart qnwis returned after .+; .*\/health HTTP 200 after .+; MainPID now \d+$/,
      );
      expect(detail(`db-check-${h}`)).toMatch(new RegExp(`^${h}: /health/detailed database ok after `));
    }
    expect(detail('verify-writes')).toMatch(
      /^db-replica is the primary: pg_is_in_recovery\(\) false, a write committed in \d+ ms; \d+ connections to qnwis_prod/,
    );
    expect(detail('old-primary')).toMatch(
      /^db-primary does not accept connections\. db-replica \(127\.0\.2\.2\) is the primary now and the fleet has no standby\. db-primary must be rebuilt as a standby of db-replica/,
    );
    expect(tookMs).toBeLessThan(60_000);

    const v = await failover.verify(ctx, a, plan, outcome);
    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.before).toBe("db-primary (127.0.2.1) was the primary; app hosts' DATABASE_HOST: 127.0.2.1");
    expect(v.after).toMatch(
      /^db-replica is the primary \(pg_is_in_recovery\(\) false, write \d+ ms\); app-01 → 127\.0\.2\.2 \(database ok\)/,
    );
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual(
      APPS.map((h) => `health:${h}:ok`),
    );

    // The same facts, seen without the command.
    expect(await sql('db-replica', 'SELECT pg_is_in_recovery()')).toBe('f');
    for (const h of APPS) {
      expect(settingOf(h)).toBe('127.0.2.2');
      const health = await detailedHealth(h);
      expect(health.ok).toBe(true);
      expect(health.body).toMatchObject({ status: 'healthy', checks: { database: { status: 'ok' } } });
    }
    await waitUntil(
      'every app host to be connected to db-replica',
      async () =>
        (await appsConnectedTo('db-replica')) === 'qnwis-app app-01,qnwis-app app-02,qnwis-app app-03',
      15_000,
    );
    // The apps' own writes (an audit row per query) commit on the new primary.
    const since = await sql('db-replica', "SELECT to_char(now(), 'YYYY-MM-DD HH24:MI:SS.USOF')");
    await waitUntil(
      'the apps to write audit rows on db-replica',
      async () =>
        Number(
          await sql('db-replica', `SELECT count(*) FROM audit.query_log WHERE created_at > '${since}'`),
        ) > 0,
      20_000,
    );
    // And the bot's role writes there too.
    expect(await db.probeWrite(getHost(inventory, 'db-replica'))).toMatchObject({ writable: true });
  }, 180_000);

  it('the lab restores its topology: db-primary primary, db-replica streaming from it, apps back on db-primary', async () => {
    const started = Date.now();
    const done = await faults.restore('failover');
    restored = true;
    const tookMs = Date.now() - started;
    expect(done).toEqual([
      'db-primary: PostgreSQL started',
      'db-replica: rebuilt from a base backup of db-primary, streaming',
      'app-01: DATABASE_HOST=127.0.2.1 again, qnwis restarted',
      'app-02: DATABASE_HOST=127.0.2.1 again, qnwis restarted',
      'app-03: DATABASE_HOST=127.0.2.1 again, qnwis restarted',
    ]);
    expect(faults.active()['db-down']).toBeUndefined();
    expect(tookMs).toBeLessThan(120_000);

    expect(await sql('db-primary', 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(await sql('db-replica', 'SELECT pg_is_in_recovery()')).toBe('t');
    expect(await sql('db-replica', 'SELECT status FROM pg_stat_wal_receiver')).toBe('streaming');
    for (const h of APPS) {
      expect(settingOf(h)).toBe('127.0.2.1');
      await waitUntil(`${h} /health/detailed database ok`, async () => (await detailedHealth(h)).ok, 20_000);
    }
    await waitUntil(
      'every app host to be connected to db-primary',
      async () =>
        (await appsConnectedTo('db-primary')) === 'qnwis-app app-01,qnwis-app app-02,qnwis-app app-03',
      15_000,
    );
    const status = await lab.status();
    expect(
      status.components
        .filter((c) => c.kind === 'postgres' || c.kind === 'qnwis')
        .map((c) => `${c.name}:${c.healthy}`),
    ).toEqual([
      'qnwis:app-01:true',
      'qnwis:app-02:true',
      'qnwis:app-03:true',
      'postgres:db-primary:true',
      'postgres:db-replica:true',
    ]);
    // Idempotent: nothing left to do.
    expect(await faults.restore('failover')).toEqual([]);
  }, 180_000);
});
