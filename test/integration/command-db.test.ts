/**
 * The database maintenance and backup commands against the lab (runbook "Performance Tuning" and
 * "Backup and Restore"): plan → precheck → run → verify on the real primary, with independent
 * checks as the superuser (lab.psql) and on the db host's files (its /backups is bind-mounted from
 * .lab/hosts/db-primary/backups).
 *
 * - vacuum-analyze removes real dead tuples (made by a no-op UPDATE of public.occupations), or
 *   reports exactly how many an older snapshot still protects, and moves last_vacuum and
 *   last_analyze; analyze of a bare name (query_log → audit.query_log) moves last_analyze;
 *   reindex of public.work_permits rebuilds its index CONCURRENTLY (new filenode, valid, ready,
 *   nothing left over). All as qnwis_ops taking qnwis_owner by SET ROLE.
 * - a table held by another session fails the step after lock_timeout, with a sentence; the
 *   adapter never takes a superuser owner's role.
 * - bad table names are refused at plan (with the list of tables) or by the catalog.
 * - backup writes a complete, 0600, gzip-valid dump to the db host's backup dir; no password is
 *   on any command sent; verify-backup restores it into qnwis_test, the runbook's queries pass
 *   and match production, the scratch database keeps its owner and grants; a truncated backup
 *   fails the drill at the restore step.
 *
 * Leaves the lab as found: backups this file made are deleted and qnwis_test is re-created empty
 * (with its grants) at the end. The tables touched keep their data (the UPDATE writes the same
 * values).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabCredentials } from '../../lab/credentials.js';
import type { Host } from '../../src/inventory.js';
import { getHost, type Inventory } from '../../src/inventory.js';
import { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
  SshRunner,
} from '../../src/ops/adapters/ssh.js';
import { backupFileName } from '../../src/ops/commands/backup.js';
import { type CommandArgs, type CommandName, parseCommand } from '../../src/ops/commands/catalog.js';
import {
  analyze,
  backup,
  type CommandContext,
  type CommandOutcome,
  createAnalyzeCommand,
  createCommandContext,
  PlanRefusedError,
  reindex,
  type StepProgress,
  type ValidationResult,
  vacuumAnalyze,
  verifyBackup,
} from '../../src/ops/commands/index.js';
import { scratchRecreate } from '../../src/ops/commands/verify-backup.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';
import { lab, labCredentials, labInventory } from '../support/lab.js';

/** Renders (with the real renderer) and records every command before the real runner sends it. */
class RecordingSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  private readonly inner: RemoteCommandRunner;
  constructor(inner: RemoteCommandRunner) {
    this.inner = inner;
  }
  run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    this.sent.push(renderRemoteCommand(command, a));
    return this.inner.run(host, command, a);
  }
}

let inventory: Inventory;
let creds: LabCredentials;
let ssh: SshRunner;
let recorder: RecordingSsh;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
let backupDir: string;
const created: string[] = [];

const primary = () => getHost(inventory, 'db-primary');
const psql = (sql: string, database = 'qnwis_prod') => lab.psql(primary(), creds, sql, database);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function args<N extends CommandName>(name: N, raw: unknown): CommandArgs[N] {
  const r = parseCommand(name, raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs[N];
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PlanRefusedError) return err.message;
    throw err;
  }
  throw new Error('the plan was not refused');
}

function reporter(): { progress: StepProgress[]; report: (p: StepProgress) => Promise<void> } {
  const progress: StepProgress[] = [];
  return { progress, report: async (p) => void progress.push(p) };
}

const ended = (progress: StepProgress[]) =>
  progress.filter((p) => p.status !== 'running').map((p) => `${p.stepId}:${p.status}`);

/** pg_stat_user_tables as the superuser sees it (independent of the adapter). */
async function stats(
  table: string,
): Promise<{ deadTuples: number; lastVacuum: string; lastAnalyze: string }> {
  const row = await psql(
    `SELECT n_dead_tup, coalesce(last_vacuum::text, ''), coalesce(last_analyze::text, '') FROM pg_stat_user_tables WHERE relid = '${table}'::regclass`,
  );
  const [dead, vac, ana] = row.split('|');
  return { deadTuples: Number(dead), lastVacuum: vac ?? '', lastAnalyze: ana ?? '' };
}

beforeAll(async () => {
  inventory = labInventory();
  creds = await labCredentials();
  ssh = new SshRunner({ connectTimeoutMs: 3_000 });
  recorder = new RecordingSsh(ssh);
  db = new FleetDatabase({ database: inventory.database, password: creds.postgres.ops });
  cache = new FleetCache({ cache: inventory.cache, password: undefined });
  ctx = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh: recorder,
      db,
      cache,
      adminToken: creds.adminToken,
      stepTimeoutMs: 10_000,
    }),
  );
  backupDir = path.join(lab.hostDir('db-primary'), 'backups');
});

afterAll(async () => {
  for (const name of created) rmSync(path.join(backupDir, name), { force: true });
  // qnwis_test was empty before this file: leave it so, with its owner and grants.
  // Retried for a while: another file's test may have the primary down at this moment.
  if (ssh) {
    const reset = () =>
      ssh.run(primary(), scratchRecreate, {
        database: 'qnwis_test',
        production: 'qnwis_prod',
        port: inventory.database.port,
      });
    await poll(
      'qnwis_test to be reset',
      () =>
        reset().then(
          () => true,
          () => undefined,
        ),
      90_000,
    ).catch((err) => console.error('could not reset qnwis_test', err));
  }
  await Promise.all([ssh?.close(), db?.close(), cache?.close()]);
});

describe('table maintenance on the primary (runbook Performance Tuning)', () => {
  it('vacuum-analyze TABLE removes dead tuples (or says which it cannot yet) and moves last_vacuum and last_analyze', async () => {
    // A no-op UPDATE leaves one dead version of each of the 15 rows (below autovacuum's threshold of 53).
    const xid = await psql('UPDATE public.occupations SET title = title; SELECT txid_current()');
    const before = await poll('dead tuples to be counted', async () => {
      const s = await stats('public.occupations');
      return s.deadTuples >= 15 ? s : undefined;
    });
    // They are removable once no snapshot still sees them. Best effort: a standby reports its xmin
    // through hot_standby_feedback only every 10 s, and other tests' sessions come and go; the
    // assertions below hold either way (the bot must report what the server did).
    await poll(
      'no snapshot or transaction older than the UPDATE',
      async () =>
        (await psql(
          `SELECT count(*) FROM (
             SELECT backend_xmin AS x FROM pg_stat_activity UNION ALL SELECT backend_xid FROM pg_stat_activity
             UNION ALL SELECT backend_xmin FROM pg_stat_replication UNION ALL SELECT xmin FROM pg_replication_slots
           ) h WHERE x IS NOT NULL AND age(x) >= age('${xid}'::xid)`,
        )) === '0'
          ? true
          : undefined,
      12_000,
    ).catch((err) => console.log(`dead tuples may not be removable yet: ${String(err)}`));

    const a = args('vacuum-analyze', { table: 'public.occupations' });
    const plan = await vacuumAnalyze.plan(ctx, a);
    expect(plan.facts.tables).toHaveLength(1);
    expect(plan.facts.tables[0]).toMatchObject({
      schema: 'public',
      table: 'occupations',
      owner: 'qnwis_owner',
      access: 'set-role',
    });
    expect(plan.facts.tables[0]?.deadTuples).toBeGreaterThanOrEqual(15);
    expect(plan.steps[1]?.description).toContain(
      'VACUUM (VERBOSE, ANALYZE) public.occupations on db-primary as its owner qnwis_owner (SET ROLE)',
    );
    expect(await vacuumAnalyze.precheck(ctx, a, plan)).toMatchObject({ ok: true });

    const { progress, report } = reporter();
    const outcome = await vacuumAnalyze.run(ctx, a, plan, report, new AbortController().signal);
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(ended(progress)).toEqual(['record-stats:done', 'vacuum-analyze:public.occupations:done']);
    expect(progress.at(-1)?.detail).toMatch(
      /^VACUUM \(VERBOSE, ANALYZE\) "public"\."occupations" took .* as qnwis_owner \(SET ROLE\); removed \d+ dead tuples?/,
    );
    const vacuumed = (
      outcome.observations.vacuumed as Record<string, { removed: number; notRemovable: number }>
    )['public.occupations'];
    if (!vacuumed) throw new Error('no VACUUM VERBOSE report recorded');
    console.log(`VACUUM public.occupations: ${progress.at(-1)?.detail}`);
    // Every dead tuple was either removed or reported as not yet removable, and what the server's
    // statistics count as dead afterwards is exactly what the bot said it could not remove.
    expect(vacuumed.removed + vacuumed.notRemovable).toBeGreaterThanOrEqual(15);
    const after = await stats('public.occupations');
    expect(after.deadTuples).toBe(vacuumed.notRemovable);
    expect(after.lastVacuum).not.toBe(before.lastVacuum);
    expect(after.lastAnalyze).not.toBe(before.lastAnalyze);

    const verified = await vacuumAnalyze.verify(ctx, a, plan, outcome);
    expect(verified.ok, verified.detail).toBe(true);
    expect(verified.before).toMatch(/public\.occupations: (1[5-9]|[2-9][0-9]) dead tuples/);
    expect(verified.after).toContain(`public.occupations: ${vacuumed.notRemovable} dead tuples`);
    expect(verified.evidence[0]).toMatchObject({ diagnostic: 'pg-table-maintenance', status: 'ok' });
  });

  it('analyze of a bare name finds its schema and moves last_analyze', async () => {
    const a = args('analyze', { table: 'query_log' });
    const plan = await analyze.plan(ctx, a);
    expect(plan.summary).toBe('analyze audit.query_log');
    const before = await stats('audit.query_log');
    const outcome = await analyze.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect((await stats('audit.query_log')).lastAnalyze > before.lastAnalyze).toBe(true);
    const verified = await analyze.verify(ctx, a, plan, outcome);
    expect(verified.ok, verified.detail).toBe(true);
  });

  it('reindex rebuilds every index of the table concurrently; each is valid, ready and new', async () => {
    const indexSql = `SELECT c.relname, pg_relation_filenode(c.oid), i.indisvalid AND i.indisready
                        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                       WHERE i.indrelid = 'public.work_permits'::regclass ORDER BY 1`;
    const before = await psql(indexSql);
    const a = args('reindex', { table: 'work_permits' });
    const plan = await reindex.plan(ctx, a);
    expect(plan.facts.concurrently).toBe(true);
    expect(plan.facts.indexes.map((i) => i.name)).toEqual(['work_permits_pkey']);
    expect(plan.steps[1]?.description).toContain('REINDEX TABLE CONCURRENTLY public.work_permits');
    expect(await reindex.precheck(ctx, a, plan)).toMatchObject({ ok: true });

    const { progress, report } = reporter();
    const started = Date.now();
    const outcome = await reindex.run(ctx, a, plan, report, new AbortController().signal);
    expect(outcome.status, outcome.detail).toBe('succeeded');
    console.log(`reindex concurrently of public.work_permits (60 000 rows): ${Date.now() - started} ms`);
    expect(ended(progress)).toEqual(['record-indexes:done', 'reindex:public.work_permits:done']);

    const after = await psql(indexSql);
    const [name, filenode, ok] = after.split('|');
    expect(name).toBe('work_permits_pkey');
    expect(ok).toBe('t');
    expect(filenode).not.toBe(before.split('|')[1]);
    const verified = await reindex.verify(ctx, a, plan, outcome);
    expect(verified.ok, verified.detail).toBe(true);
    expect(verified.detail).toMatch(
      /every index of public\.work_permits was rebuilt and is valid: work_permits_pkey .* → /,
    );
  });

  it('vacuum-analyze without a table plans every table of the database, one step each', async () => {
    const plan = await vacuumAnalyze.plan(ctx, args('vacuum-analyze', {}));
    expect(plan.facts.scope).toBe('database');
    expect(plan.steps.map((s) => s.id)).toEqual(
      expect.arrayContaining([
        'record-stats',
        'vacuum-analyze:audit.query_log',
        'vacuum-analyze:public.establishments',
        'vacuum-analyze:public.occupations',
        'vacuum-analyze:public.qtr_employment_stats',
        'vacuum-analyze:public.work_permits',
      ]),
    );
    expect(plan.facts.skipped).toEqual([]);
  });

  it('a table another session holds fails the step at lock_timeout with a sentence, not a wait', async () => {
    // SHARE UPDATE EXCLUSIVE conflicts with ANALYZE but not with the app's reads and writes.
    const holder = new pg.Client({
      host: primary().address,
      port: inventory.database.port,
      user: 'postgres',
      password: creds.postgres.superuser,
      database: 'qnwis_prod',
      application_name: 'command-db-test-lock',
    });
    holder.on('error', () => {});
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE public.occupations IN SHARE UPDATE EXCLUSIVE MODE');
      const quick = createAnalyzeCommand({ lockTimeoutSec: 1 });
      const a = args('analyze', { table: 'occupations' });
      const plan = await quick.plan(ctx, a);
      expect(plan.steps[1]?.description).toContain('lock_timeout 1 s');
      const started = Date.now();
      const outcome = await quick.run(ctx, a, plan, async () => {}, new AbortController().signal);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(outcome.status).toBe('failed');
      expect(outcome.steps[1]?.detail).toBe(
        'public.occupations is locked by another session (gave up after lock_timeout 1 s); pg-active-queries shows who holds it',
      );
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end().catch(() => {});
    }
  });

  it("the adapter never acts as a superuser's table owner, and says when a table does not exist", async () => {
    expect(await db.maintain(primary(), 'analyze', { schema: 'pg_catalog', table: 'pg_class' })).toEqual({
      done: false,
      reason: 'not_permitted',
      detail:
        'pg_catalog.pg_class belongs to postgres, a superuser; qnwis_ops may not act as its owner, which ANALYZE needs',
    });
    expect(await db.maintain(primary(), 'vacuum-analyze', { schema: 'public', table: 'nope' })).toEqual({
      done: false,
      reason: 'not_found',
      detail: 'no table public.nope in qnwis_prod',
    });
  });

  it('bad table names are refused at plan (listing the tables) or by the catalog', async () => {
    const msg = await refusal(
      vacuumAnalyze.plan(ctx, args('vacuum-analyze', { table: 'public.no_such_table' })),
    );
    expect(msg).toContain('no table "public.no_such_table" in qnwis_prod on db-primary; tables: ');
    expect(msg).toContain('audit.query_log');
    expect(msg).toContain('public.qtr_employment_stats');
    expect(await refusal(reindex.plan(ctx, args('reindex', { table: 'pg_stat_statements' })))).toContain(
      'no table "pg_stat_statements"',
    );
    for (const bad of ['pg_catalog.pg_class', 'x; DROP TABLE y', 'Occupations']) {
      const parsed = parseCommand('analyze', { table: bad }, inventory);
      expect(parsed.ok, bad).toBe(false);
    }
  });
});

describe('backup and the backup verification drill (runbook Backup and Restore)', () => {
  let outcome: CommandOutcome;
  let file: string;

  it('backup writes a complete gzip dump into the db host backup dir, without a password anywhere', async () => {
    const plan = await backup.plan(ctx, {});
    expect(plan.facts).toMatchObject({
      host: 'db-primary',
      backupDir: '/backups',
      filePattern: 'qnwis_prod_YYYYmmdd_HHMMSS.sql.gz',
    });
    expect(plan.steps.map((s) => s.id)).toEqual(['check-space', 'dump', 'seal']);
    expect(plan.steps[1]?.description).toContain(
      'sudo -u postgres pg_dump -p 5432 qnwis_prod | gzip > /backups/qnwis_prod_YYYYmmdd_HHMMSS.sql.gz.partial on db-primary',
    );
    expect(await backup.precheck(ctx, {}, plan)).toMatchObject({ ok: true });

    const { progress, report } = reporter();
    const sentBefore = recorder.sent.length;
    const started = Date.now();
    outcome = await backup.run(ctx, {}, plan, report, new AbortController().signal);
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    file = String(outcome.observations.file);
    created.push(file);
    expect(file).toMatch(/^qnwis_prod_\d{8}_\d{6}\.sql\.gz$/);
    expect(ended(progress)).toEqual(['check-space:done', 'dump:done', 'seal:done']);

    // The file on the host, read independently.
    const onDisk = path.join(backupDir, file);
    const st = statSync(onDisk);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBeGreaterThan(16 * 1024);
    expect(st.size).toBe(outcome.observations.bytes);
    const sql = gunzipSync(readFileSync(onDisk)).toString('utf8');
    expect(sql).toContain('COPY public.qtr_employment_stats');
    expect(sql).toContain('-- PostgreSQL database dump complete');
    expect(readdirSync(backupDir).filter((f) => f.endsWith('.partial'))).toEqual([]);
    console.log(
      `backup of qnwis_prod: ${st.size} bytes gzip in ${tookMs} ms (${outcome.steps.map((s) => s.detail).join(' | ')})`,
    );

    // No database password on any command line the bot sent.
    const secrets = Object.values(creds.postgres);
    const sent = recorder.sent.slice(sentBefore);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    for (const line of sent) for (const s of secrets) expect(line.includes(s)).toBe(false);

    const verified = await backup.verify(ctx, {}, plan, outcome);
    expect(verified.ok, verified.detail).toBe(true);
    expect(verified.after).toMatch(
      new RegExp(`^${file} .* gzip ok, dump complete; newest of \\d+ backups?$`),
    );
  }, 60_000);

  it('verify-backup restores the newest backup into qnwis_test and the runbook queries pass', async () => {
    const acl = `SELECT pg_get_userbyid(datdba), array_to_string(ARRAY(SELECT unnest(datacl)::text ORDER BY 1), ',') FROM pg_database WHERE datname = 'qnwis_test'`;
    const aclBefore = await psql(acl, 'postgres');
    const a = args('verify-backup', {});
    const plan = await verifyBackup.plan(ctx, a);
    expect(plan.facts).toMatchObject({ into: 'qnwis_test', scratch: true, backup: { name: file } });
    expect(await verifyBackup.precheck(ctx, a, plan)).toMatchObject({ ok: true });

    const { progress, report } = reporter();
    const started = Date.now();
    const run = await verifyBackup.run(ctx, a, plan, report, new AbortController().signal);
    expect(run.status, run.detail).toBe('succeeded');
    console.log(`verify-backup (recreate + restore + validate): ${Date.now() - started} ms`);
    expect(ended(progress)).toEqual(['recreate:done', 'restore:done', 'validate:done']);

    const results = run.observations.results as unknown as ValidationResult[];
    const prodRows = await psql('SELECT count(*) FROM qtr_employment_stats');
    const prodTables = await psql(
      "SELECT count(DISTINCT table_name) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(results.map((r) => [r.id, r.ok])).toEqual([
      ['q1', true],
      ['q2', true],
      ['q3', true],
    ]);
    expect(results[0]?.value).toBe(prodRows);
    expect(results[2]?.value).toBe(prodTables);
    expect(results[2]?.production).toBe(prodTables);
    expect(await psql('SELECT count(*) FROM qtr_employment_stats', 'qnwis_test')).toBe(prodRows);
    // The scratch database kept its owner and grants (no CONNECT handed to PUBLIC).
    expect(await psql(acl, 'postgres')).toBe(aclBefore);

    const log = readFileSync(path.join(lab.hostDir('db-primary'), 'log', 'backup_verification.log'), 'utf8');
    expect(log.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(
        `^Backup verification: \\S+ file=${file} into=qnwis_test result=passed q1=${prodRows} q2=\\S+ q3=${prodTables}$`,
      ),
    );

    const verified = await verifyBackup.verify(ctx, a, plan, run);
    expect(verified.ok, verified.detail).toBe(true);
    expect(verified.after).toContain(`✓ rows in qtr_employment_stats: ${prodRows}`);
  }, 60_000);

  it('a truncated newest backup fails the drill at the restore step', async () => {
    const bad = backupFileName('qnwis_prod', new Date(Date.now() + 60_000));
    const whole = readFileSync(path.join(backupDir, file));
    writeFileSync(path.join(backupDir, bad), whole.subarray(0, Math.floor(whole.length * 0.6)), {
      mode: 0o600,
    });
    created.push(bad);
    const a = args('verify-backup', {});
    const plan = await verifyBackup.plan(ctx, a);
    expect(plan.facts.backup.name).toBe(bad);
    const { progress, report } = reporter();
    const run = await verifyBackup.run(ctx, a, plan, report, new AbortController().signal);
    expect(run.status).toBe('failed');
    expect(ended(progress)).toEqual(['recreate:done', 'restore:failed', 'validate:skipped']);
    expect(run.steps[1]?.detail).toContain('the backup is corrupt or truncated');
    const verified = await verifyBackup.verify(ctx, a, plan, run);
    expect(verified.ok).toBe(false);
    rmSync(path.join(backupDir, bad), { force: true });
    expect(existsSync(path.join(backupDir, bad))).toBe(false);
  }, 60_000);

  it('verify-backup never restores over the production database', async () => {
    expect(await refusal(verifyBackup.plan(ctx, args('verify-backup', { into: 'qnwis_prod' })))).toContain(
      'qnwis_prod is the production database',
    );
  });
});
