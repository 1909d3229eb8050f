/**
 * The pure parts of the database maintenance and backup commands (issue 6): the quoting of
 * maintenance statements, table resolution and its refusals, duration estimates, "did last_vacuum
 * move", index before/after, backup names, listings, df, the backup inspection, the validation
 * queries' parsing and pass rules. The backup templates that need no database (list, seal,
 * inspect) run for real in a local sh against files in a temp dir, so the pipe-status trick and the
 * atomic publish are exercised, not just rendered. Plans are made against fakes of the adapter
 * ports (the integration test runs them against the lab).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/incidents/approvals.js';
import { type Host, parseInventory } from '../../src/inventory.js';
import {
  type FleetDatabase,
  type MaintenanceResult,
  maintenanceStatement,
  type TableIndex,
  type TableMaintenanceStats,
} from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import {
  BACKUP_NAME,
  backupFileName,
  backupInspect,
  backupList,
  backupProblems,
  backupSeal,
  parseBackupListing,
  parseDfAvailable,
  parseInspection,
} from '../../src/ops/commands/backup.js';
import { type CommandArgs, parseCommand } from '../../src/ops/commands/catalog.js';
import {
  compareIndexes,
  describeVacuumReport,
  estimateSeconds,
  leftoverIndexes,
  matchTable,
  moved,
  vacuumReport,
} from '../../src/ops/commands/db-maintenance.js';
import {
  analyze,
  type CommandContext,
  createCommandContext,
  createReindexCommand,
  PlanRefusedError,
  reindex,
  type StepProgress,
  vacuumAnalyze,
  verifyBackup,
} from '../../src/ops/commands/index.js';
import {
  judgeValidation,
  parsePgTimestamp,
  parseValidationOutput,
  restoreBackup,
  scratchRecreate,
  VALIDATION_QUERIES,
  verificationLogLine,
} from '../../src/ops/commands/verify-backup.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

const scratch = mkdtempSync(path.join(os.tmpdir(), 'command-db-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function args<N extends 'vacuum-analyze' | 'analyze' | 'reindex' | 'verify-backup'>(
  name: N,
  raw: unknown,
): CommandArgs[N] {
  const r = parseCommand(name, raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs[N];
}

function table(
  over: Partial<TableMaintenanceStats> & { schema: string; table: string },
): TableMaintenanceStats {
  return {
    oid: 16_400,
    owner: 'qnwis_owner',
    ownerIsSuperuser: false,
    access: 'set-role',
    heapBytes: 8192,
    indexBytes: 16_384,
    totalBytes: 24_576,
    liveTuples: 15,
    deadTuples: 3,
    lastVacuum: null,
    lastAutovacuum: '2026-03-01T09:00:00.000000Z',
    lastAnalyze: '2026-03-01T08:00:00.000000Z',
    lastAutoanalyze: null,
    vacuumCount: 0,
    analyzeCount: 1,
    indexCount: 1,
    ...over,
  };
}

const TABLES = [
  table({ schema: 'audit', table: 'query_log', oid: 1 }),
  table({ schema: 'public', table: 'occupations', oid: 2 }),
  table({
    schema: 'public',
    table: 'qtr_employment_stats',
    oid: 3,
    indexCount: 3,
    heapBytes: 8e6,
    indexBytes: 4e6,
    totalBytes: 12e6,
  }),
  table({
    schema: 'public',
    table: 'secrets',
    oid: 4,
    owner: 'postgres',
    ownerIsSuperuser: true,
    access: 'none',
  }),
];

function index(name: string, over: Partial<TableIndex> = {}): TableIndex {
  return {
    name,
    bytes: 16_384,
    valid: true,
    ready: true,
    filenode: 100,
    primary: false,
    unique: false,
    ...over,
  };
}

/** A FleetDatabase stand-in answering from `tables`; records maintain() calls. */
function fakeDb(tables = TABLES, opts: { version?: number; indexes?: TableIndex[] } = {}) {
  const calls: string[] = [];
  const db = {
    userTables: async (_h: Host, f: { schema?: string; table?: string } = {}) =>
      tables.filter(
        (t) =>
          (f.schema === undefined || t.schema === f.schema) && (f.table === undefined || t.table === f.table),
      ),
    isInRecovery: async () => false,
    serverVersionNum: async () => opts.version ?? 150_020,
    tableIndexes: async () => opts.indexes ?? [index('occupations_pkey', { primary: true, unique: true })],
    databaseInfo: async (_h: Host, name: string) => ({
      name,
      exists: true,
      owner: 'qnwis',
      bytes: 8_000_000,
    }),
    maintain: async (
      h: Host,
      op: string,
      t: { schema: string; table: string },
    ): Promise<MaintenanceResult> => {
      calls.push(`${h.name} ${op} ${t.schema}.${t.table}`);
      return {
        done: true,
        ranAs: 'qnwis_owner',
        setRole: true,
        statement: `${op} ${t.schema}.${t.table}`,
        tookMs: 5,
        notices: [],
      };
    },
  } as unknown as FleetDatabase;
  return { db, calls };
}

class FakeSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  private readonly answer: (command: string) => Partial<RemoteCommandResult>;
  constructor(answer: (command: string) => Partial<RemoteCommandResult> = () => ({})) {
    this.answer = answer;
  }
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    renderRemoteCommand(command, a);
    this.sent.push(`${host.name} ${command.name}`);
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 1,
      ...this.answer(command.name),
    };
  }
}

function context(db: FleetDatabase, ssh: RemoteCommandRunner = new FakeSsh()): CommandContext {
  return createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db,
      cache: {} as FleetCache,
      adminToken: undefined,
      stepTimeoutMs: 1_000,
      now: () => new Date('2026-03-01T10:04:05.000Z'),
    }),
  );
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

/** Runs a template's script in a local sh (no SSH): the real rendering, the real shell. */
function sh(
  command: RemoteCommand,
  a: Record<string, unknown>,
): { code: number; stdout: string; stderr: string } {
  const wire = renderRemoteCommand(command, a as never);
  try {
    const stdout = execFileSync('sh', ['-c', wire], {
      encoding: 'utf8',
      cwd: scratch,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

// ---------------------------------------------------------------------------------------------

describe('maintenance statements: identifiers are quoted, never spliced', () => {
  it('quotes schema and table with escapeIdentifier for each operation', () => {
    const t = { schema: 'public', table: 'qtr_employment_stats' };
    expect(maintenanceStatement('vacuum-analyze', t)).toBe(
      'VACUUM (VERBOSE, ANALYZE) "public"."qtr_employment_stats"',
    );
    expect(maintenanceStatement('analyze', t)).toBe('ANALYZE "public"."qtr_employment_stats"');
    expect(maintenanceStatement('reindex', t)).toBe('REINDEX TABLE "public"."qtr_employment_stats"');
    expect(maintenanceStatement('reindex-concurrently', t)).toBe(
      'REINDEX TABLE CONCURRENTLY "public"."qtr_employment_stats"',
    );
  });

  it('a quote in a name stays inside the identifier', () => {
    expect(maintenanceStatement('analyze', { schema: 'public', table: 'x"; DROP TABLE y; --' })).toBe(
      'ANALYZE "public"."x""; DROP TABLE y; --"',
    );
  });

  it('refuses empty, NUL and over-long names', () => {
    expect(() => maintenanceStatement('analyze', { schema: '', table: 't' })).toThrow(/schema/);
    expect(() => maintenanceStatement('analyze', { schema: 'public', table: 'a\0b' })).toThrow(/table/);
    expect(() => maintenanceStatement('analyze', { schema: 'public', table: 'x'.repeat(64) })).toThrow(
      /table/,
    );
  });
});

describe('table resolution', () => {
  it('finds schema.table exactly and a bare name in whichever schema has it', () => {
    expect(matchTable('public.occupations', TABLES)).toMatchObject({ ok: true, table: { oid: 2 } });
    expect(matchTable('query_log', TABLES)).toMatchObject({ ok: true, table: { schema: 'audit' } });
    expect(matchTable('public.query_log', TABLES)).toMatchObject({ ok: false, reason: 'not_found' });
  });

  it('refuses a bare name found in two schemas, naming both', () => {
    const twice = [...TABLES, table({ schema: 'audit', table: 'occupations', oid: 9 })];
    expect(matchTable('occupations', twice)).toEqual({
      ok: false,
      reason: 'ambiguous',
      candidates: ['public.occupations', 'audit.occupations'],
    });
  });

  it('the catalog already refuses names that are not plain identifiers or sit in system schemas', () => {
    for (const bad of ['pg_catalog.pg_class', 'information_schema.tables', 'Robert"); DROP', 'a b', 'Qtr']) {
      expect(parseCommand('analyze', { table: bad }, inventory).ok).toBe(false);
    }
  });
});

describe('plans', () => {
  it('an unknown table is refused with the list of tables', async () => {
    const { db, calls } = fakeDb();
    const msg = await refusal(vacuumAnalyze.plan(context(db), args('vacuum-analyze', { table: 'nosuch' })));
    expect(msg).toContain('no table "nosuch" in qnwis_prod on db-primary');
    expect(msg).toContain(
      'tables: audit.query_log, public.occupations, public.qtr_employment_stats, public.secrets',
    );
    expect(calls).toEqual([]);
  });

  it('a table whose owner the bot may not act as is refused with what to change', async () => {
    const msg = await refusal(reindex.plan(context(fakeDb().db), args('reindex', { table: 'secrets' })));
    expect(msg).toMatch(/qnwis_ops may not REINDEX public\.secrets: it belongs to postgres, a superuser/);
  });

  it('vacuum-analyze of one table: record, then one VACUUM step as the owner, with size, tuples and lock', async () => {
    const plan = await vacuumAnalyze.plan(
      context(fakeDb().db),
      args('vacuum-analyze', { table: 'occupations' }),
    );
    expect(plan.steps.map((s) => s.id)).toEqual(['record-stats', 'vacuum-analyze:public.occupations']);
    const vac = plan.steps[1]?.description ?? '';
    expect(vac).toContain(
      'VACUUM (VERBOSE, ANALYZE) public.occupations on db-primary as its owner qnwis_owner (SET ROLE)',
    );
    expect(vac).toContain('15 live / 3 dead tuples');
    expect(vac).toContain('last vacuum never (auto 2026-03-01 09:00:00Z)');
    expect(vac).toContain('reads and writes go on');
    expect(vac).toContain('statement_timeout 1 h, lock_timeout 30 s');
    expect(plan.steps[1]?.timeoutSec).toBe(3600);
    expect(plan.facts.scope).toBe('table');
    // Plain JSON: survives a round trip unchanged (it is hashed for approvals).
    expect(JSON.parse(canonicalJson(plan))).toEqual(JSON.parse(JSON.stringify(plan)));
  });

  it('vacuum-analyze without a table plans each maintainable table and names the ones left out', async () => {
    const plan = await vacuumAnalyze.plan(context(fakeDb().db), args('vacuum-analyze', {}));
    expect(plan.steps.map((s) => s.id)).toEqual([
      'record-stats',
      'vacuum-analyze:audit.query_log',
      'vacuum-analyze:public.occupations',
      'vacuum-analyze:public.qtr_employment_stats',
    ]);
    expect(plan.facts.skipped).toEqual([
      {
        name: 'public.secrets',
        owner: 'postgres',
        reason: 'owned by postgres (superuser), which the bot may not act as',
      },
    ]);
    expect(plan.blastRadius).toContain('3 tables of qnwis_prod on db-primary');
    expect(plan.blastRadius).toContain('left out: public.secrets');
  });

  it('reindex is CONCURRENTLY from PostgreSQL 12 and warns loudly below it', async () => {
    const p15 = await reindex.plan(context(fakeDb().db), args('reindex', { table: 'occupations' }));
    expect(p15.facts.concurrently).toBe(true);
    expect(p15.steps[1]?.description).toContain('REINDEX TABLE CONCURRENTLY public.occupations');
    expect(p15.blastRadius).toContain('reads and writes go on');
    const p11 = await reindex.plan(
      context(fakeDb(TABLES, { version: 110_022 }).db),
      args('reindex', { table: 'occupations' }),
    );
    expect(p11.facts.concurrently).toBe(false);
    expect(p11.steps[1]?.description).toContain('WARNING: blocks every write');
    expect(p11.steps[1]?.description).toContain('PostgreSQL 11 has no CONCURRENTLY');
    expect(p11.blastRadius).toContain('WRITES ARE BLOCKED');
    const off = await createReindexCommand({ reindexConcurrently: false }).plan(
      context(fakeDb().db),
      args('reindex', { table: 'occupations' }),
    );
    expect(off.facts.concurrently).toBe(false);
  });

  it('the same request against the same state plans the same JSON', async () => {
    const a = await analyze.plan(context(fakeDb().db), args('analyze', { table: 'query_log' }));
    const b = await analyze.plan(context(fakeDb().db), args('analyze', { table: 'query_log' }));
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(a.summary).toBe('analyze audit.query_log');
  });

  it('run stops between tables on Cancel: later tables are skipped, never sent', async () => {
    const { db, calls } = fakeDb();
    const ctx = context(db);
    const plan = await vacuumAnalyze.plan(ctx, args('vacuum-analyze', {}));
    const ac = new AbortController();
    const seen: StepProgress[] = [];
    const outcome = await vacuumAnalyze.run(
      ctx,
      args('vacuum-analyze', {}),
      plan,
      async (p) => {
        seen.push(p);
        if (p.stepId === 'vacuum-analyze:audit.query_log' && p.status === 'done') ac.abort();
      },
      ac.signal,
    );
    expect(outcome.status).toBe('cancelled');
    expect(calls).toEqual(['db-primary vacuum-analyze audit.query_log']);
    expect(outcome.steps.map((s) => s.status)).toEqual(['done', 'done', 'skipped', 'skipped']);
  });

  it('verify-backup never plans a restore over the production database', async () => {
    const msg = await refusal(
      verifyBackup.plan(context(fakeDb().db), args('verify-backup', { into: 'qnwis_prod' })),
    );
    expect(msg).toContain('qnwis_prod is the production database');
  });

  it('verify-backup restores the newest backup into the scratch database by default', async () => {
    const ssh = new FakeSsh((name) =>
      name === 'backup-list'
        ? {
            stdout:
              '1772359445.5 2048000 qnwis_prod_20260301_100405.sql.gz\n1772273045.1 2000000 qnwis_prod_20260228_100405.sql.gz\n',
          }
        : {},
    );
    const plan = await verifyBackup.plan(context(fakeDb().db, ssh), args('verify-backup', {}));
    expect(plan.facts).toMatchObject({
      into: 'qnwis_test',
      scratch: true,
      path: '/backups/qnwis_prod_20260301_100405.sql.gz',
    });
    expect(plan.steps.map((s) => s.id)).toEqual(['recreate', 'restore', 'validate']);
    expect(plan.blastRadius).toContain('the scratch database qnwis_test on db-primary is replaced');
    const none = new FakeSsh(() => ({ stdout: '' }));
    expect(await refusal(verifyBackup.plan(context(fakeDb().db, none), args('verify-backup', {})))).toContain(
      'no backup in /backups on db-primary: run backup first',
    );
  });
});

describe('estimates and statistics', () => {
  it('estimates grow with size; ANALYZE stays near a second; CONCURRENTLY doubles a rebuild', () => {
    const small = { heapBytes: 1e6, indexBytes: 1e6, indexCount: 1 };
    const big = { heapBytes: 64e9, indexBytes: 16e9, indexCount: 3 };
    expect(estimateSeconds('vacuum-analyze', small)).toBe(2);
    expect(estimateSeconds('vacuum-analyze', big)).toBeGreaterThan(1000);
    expect(estimateSeconds('analyze', big)).toBe(11);
    expect(estimateSeconds('reindex', big, true)).toBeGreaterThanOrEqual(
      2 * estimateSeconds('reindex', big) - 1,
    );
  });

  it('moved: set after being unset, or later to the microsecond', () => {
    expect(moved(null, '2026-03-01T10:00:00.000001Z')).toBe(true);
    expect(moved('2026-03-01T10:00:00.000001Z', '2026-03-01T10:00:00.000002Z')).toBe(true);
    expect(moved('2026-03-01T10:00:00.000001Z', '2026-03-01T10:00:00.000001Z')).toBe(false);
    expect(moved('2026-03-01T10:00:00.000001Z', null)).toBe(false);
  });

  it('compareIndexes wants every index rebuilt (new filenode), valid, and nothing left over', () => {
    const before = [index('a', { filenode: 1, bytes: 40_960 }), index('b', { filenode: 2 })];
    const ok = compareIndexes(before, [
      index('a', { filenode: 11, bytes: 16_384 }),
      index('b', { filenode: 12 }),
    ]);
    expect(ok).toEqual({ ok: true, lines: ['a 40.0 KiB → 16.0 KiB', 'b 16.0 KiB → 16.0 KiB'], problems: [] });
    const bad = compareIndexes(before, [
      index('a', { filenode: 1 }),
      index('b', { filenode: 12, valid: false }),
      index('b_ccnew', { valid: false }),
    ]);
    expect(bad.ok).toBe(false);
    expect(bad.problems).toEqual([
      'a was not rebuilt (same filenode 1)',
      'b is invalid',
      'indexes left over: b_ccnew (drop them with DROP INDEX CONCURRENTLY)',
    ]);
    expect(
      leftoverIndexes([index('b_ccnew1', { valid: false }), index('c', { valid: false }), index('d_ccold')]),
    ).toEqual(['b_ccnew1']);
  });
});

describe('VACUUM VERBOSE report', () => {
  // As PostgreSQL 15 sends it (captured from the lab), the table's and then its TOAST table's.
  const notices = [
    { severity: 'INFO', message: 'vacuuming "qnwis_prod.public.occupations"' },
    {
      severity: 'INFO',
      message: [
        'finished vacuuming "qnwis_prod.public.occupations": index scans: 0',
        'pages: 0 removed, 1 remain, 1 scanned (100.00% of total)',
        'tuples: 15 removed, 15 remain, 3 are dead but not yet removable',
        'removable cutoff: 43942, which was 43 XIDs old when operation ended',
      ].join('\n'),
    },
    {
      severity: 'INFO',
      message:
        'finished vacuuming "qnwis_prod.pg_toast.pg_toast_16432": index scans: 0\ntuples: 0 removed, 0 remain, 0 are dead but not yet removable',
    },
  ];

  it("reads the table's own line, not its TOAST table's", () => {
    const r = vacuumReport(notices, { schema: 'public', table: 'occupations' });
    expect(r).toEqual({ removed: 15, remain: 15, notRemovable: 3 });
    expect(vacuumReport(notices, { schema: 'public', table: 'occ' })).toBeUndefined();
    expect(describeVacuumReport({ removed: 15, remain: 15, notRemovable: 0 })).toBe('removed 15 dead tuples');
    expect(describeVacuumReport(r ?? { removed: 0, remain: 0, notRemovable: 0 })).toContain(
      '3 more are dead but not yet removable: an older transaction or a standby (hot_standby_feedback) still sees them',
    );
  });

  it('the step reports it, and passes on warnings but not the INFO chatter', async () => {
    const { db } = fakeDb();
    (db as unknown as { maintain: unknown }).maintain = async (): Promise<MaintenanceResult> => ({
      done: true,
      ranAs: 'qnwis_owner',
      setRole: true,
      statement: 'VACUUM (VERBOSE, ANALYZE) "public"."occupations"',
      tookMs: 12,
      notices: [...notices, { severity: 'WARNING', message: 'some index is bloated' }],
    });
    const ctx = context(db);
    const a = args('vacuum-analyze', { table: 'occupations' });
    const plan = await vacuumAnalyze.plan(ctx, a);
    const outcome = await vacuumAnalyze.run(ctx, a, plan, async () => {}, new AbortController().signal);
    expect(outcome.steps[1]?.detail).toBe(
      'VACUUM (VERBOSE, ANALYZE) "public"."occupations" took 12 ms as qnwis_owner (SET ROLE); removed 15 dead tuples; ' +
        '3 more are dead but not yet removable: an older transaction or a standby (hot_standby_feedback) still sees them, ' +
        'a later VACUUM or autovacuum removes them; server said: some index is bloated',
    );
  });
});

describe('backup names, listings and df', () => {
  it('names a backup after the database and the UTC time', () => {
    expect(backupFileName('qnwis_prod', new Date('2026-03-01T10:04:05.999Z'))).toBe(
      'qnwis_prod_20260301_100405.sql.gz',
    );
    expect(BACKUP_NAME.test('qnwis_20250112_020000.sql.gz')).toBe(true); // the runbook's own name
    expect(BACKUP_NAME.test('qnwis_prod_20260301_100405.sql.gz.partial')).toBe(false);
    expect(() => backupFileName('Bad-Name', new Date())).toThrow();
  });

  it('lists backups newest first, ignoring partial and foreign files', () => {
    const out = [
      '1772273045.1000000000 2000000 qnwis_prod_20260228_100405.sql.gz',
      '1772359445.5000000000 2048000 qnwis_prod_20260301_100405.sql.gz',
      '1772359999.0000000000 1000 qnwis_prod_20260301_101000.sql.gz.partial',
      '1772359999.0000000000 10 notes.sql.gz',
      'garbage',
    ].join('\n');
    expect(parseBackupListing(out)).toEqual([
      { name: 'qnwis_prod_20260301_100405.sql.gz', bytes: 2_048_000, modifiedAt: '2026-03-01T10:04:05.000Z' },
      { name: 'qnwis_prod_20260228_100405.sql.gz', bytes: 2_000_000, modifiedAt: '2026-02-28T10:04:05.000Z' },
    ]);
  });

  it('reads the available space from df -Pk', () => {
    const df =
      'Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 24122368  82268544      23% /backups\n';
    expect(parseDfAvailable(df)).toEqual({ availableBytes: 82_268_544 * 1024, mount: '/backups' });
    expect(parseDfAvailable('nonsense')).toBeUndefined();
  });

  it('rejects paths and database names that could be read as something else', () => {
    const file = (f: string) => () => renderRemoteCommand(backupSeal, { file: f });
    expect(file('/backups/qnwis_prod_20260301_100405.sql.gz')).not.toThrow();
    for (const bad of [
      '/backups/../etc/qnwis_prod_20260301_100405.sql.gz',
      'backups/qnwis_prod_20260301_100405.sql.gz',
      '/backups/x.sql.gz',
      "/backups/a'b_20260301_100405.sql.gz",
    ])
      expect(file(bad)).toThrow();
    const restore = (db: string) => () =>
      renderRemoteCommand(restoreBackup, {
        file: '/backups/qnwis_prod_20260301_100405.sql.gz',
        database: db,
        port: 5432,
      });
    for (const bad of ['-c', 'host=evil', 'Qnwis', 'a b']) expect(restore(bad)).toThrow();
    expect(() =>
      renderRemoteCommand(scratchRecreate, { database: 'qnwis_test', production: 'qnwis_prod', port: 5432 }),
    ).not.toThrow();
  });
});

describe('backup templates in a real shell', () => {
  const dir = path.join(scratch, 'backups');
  const dump = Buffer.from(
    '--\n-- PostgreSQL database dump\n--\nSELECT 1;\n--\n-- PostgreSQL database dump complete\n--\n\n',
  );

  it('backup-list prints what parseBackupListing reads', () => {
    rmSync(dir, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(path.join(dir, 'qnwis_prod_20260301_100405.sql.gz'), gzipSync(dump));
    writeFileSync(path.join(dir, 'qnwis_prod_20260228_100405.sql.gz'), gzipSync(dump));
    utimesSync(path.join(dir, 'qnwis_prod_20260228_100405.sql.gz'), 1_772_273_045, 1_772_273_045);
    writeFileSync(path.join(dir, 'qnwis_prod_20260301_110000.sql.gz.partial'), 'x');
    const r = sh(backupList, { dir });
    expect(r.code).toBe(0);
    expect(parseBackupListing(r.stdout).map((f) => f.name)).toEqual([
      'qnwis_prod_20260301_100405.sql.gz',
      'qnwis_prod_20260228_100405.sql.gz',
    ]);
    expect(sh(backupList, { dir: path.join(scratch, 'nope') })).toMatchObject({
      code: 3,
      stderr: 'no such directory\n',
    });
  });

  it('backup-seal publishes a sound .partial under its final name, and removes a corrupt one', () => {
    const file = path.join(dir, 'qnwis_prod_20260301_120000.sql.gz');
    writeFileSync(`${file}.partial`, gzipSync(dump));
    const ok = sh(backupSeal, { file });
    expect(ok.code).toBe(0);
    expect(Number(ok.stdout.trim())).toBe(gzipSync(dump).length);
    expect(existsSync(`${file}.partial`)).toBe(false);
    // A second publish under the same name is refused, never overwrites.
    writeFileSync(`${file}.partial`, gzipSync(Buffer.from('other')));
    expect(sh(backupSeal, { file })).toMatchObject({ code: 3 });
    const broken = path.join(dir, 'qnwis_prod_20260301_130000.sql.gz');
    writeFileSync(`${broken}.partial`, gzipSync(dump).subarray(0, 20));
    const bad = sh(backupSeal, { file: broken });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('gzip -t failed');
    expect(existsSync(`${broken}.partial`) || existsSync(broken)).toBe(false);
  });

  it('backup-inspect reads the whole file: a truncated one reports gzip failure, a cut dump no trailer', () => {
    const good = path.join(dir, 'qnwis_prod_20260301_140000.sql.gz');
    writeFileSync(good, gzipSync(dump));
    chmodSync(good, 0o600);
    const g = parseInspection(sh(backupInspect, { file: good }).stdout);
    expect(g).toMatchObject({ gzipExit: 0, complete: true, bytes: gzipSync(dump).length });
    expect(backupProblems({ name: 'x', bytes: g?.bytes ?? 0, modifiedAt: '' }, g, 16)).toEqual([]);

    const truncated = path.join(dir, 'qnwis_prod_20260301_150000.sql.gz');
    writeFileSync(truncated, gzipSync(dump).subarray(0, 30));
    const t = parseInspection(sh(backupInspect, { file: truncated }).stdout);
    expect(t?.gzipExit).not.toBe(0);
    expect(backupProblems({ name: 'x', bytes: 30, modifiedAt: '' }, t, 16)).toEqual([
      expect.stringContaining('the file is corrupt or truncated'),
    ]);

    const cut = path.join(dir, 'qnwis_prod_20260301_160000.sql.gz');
    writeFileSync(cut, gzipSync(Buffer.from('--\n-- PostgreSQL database dump\n--\nCOPY x FROM stdin;\n1\n')));
    const c = parseInspection(sh(backupInspect, { file: cut }).stdout);
    expect(c).toMatchObject({ gzipExit: 0, complete: false });
    expect(backupProblems({ name: 'x', bytes: 10, modifiedAt: '' }, c, 16)).toEqual([
      'x is 10 B, below the plausible minimum 16 B',
      'the dump does not end with pg_dump\'s "dump complete" trailer: it is incomplete',
    ]);
  });
});

describe('validation queries', () => {
  it('are the runbook drill queries, in order', () => {
    expect(VALIDATION_QUERIES.map((q) => q.sql)).toEqual([
      'SELECT count(*) FROM qtr_employment_stats;',
      'SELECT max(created_at) FROM audit.query_log;',
      "SELECT count(DISTINCT table_name) FROM information_schema.tables WHERE table_schema = 'public';",
    ]);
  });

  it('attributes values and errors to their query through the markers on both streams', () => {
    const stdout = '@@q1\n50000\n@@q2\n\n@@q3\n6\n@@end\n';
    const stderr =
      '@@q1\n@@q2\nERROR:  relation "audit.query_log" does not exist\nLINE 1: SELECT max(created_at) FROM audit.query_log;\n@@q3\n';
    const a = parseValidationOutput(stdout, stderr);
    expect(a.get('q1')).toEqual({ value: '50000', error: null });
    expect(a.get('q2')).toEqual({ value: null, error: 'ERROR:  relation "audit.query_log" does not exist' });
    expect(a.get('q3')).toEqual({ value: '6', error: null });
    const stopped = parseValidationOutput('@@q1\n5\n', '@@q1\n');
    expect(stopped.get('q3')).toEqual({ value: null, error: 'no answer (psql stopped before this query)' });
  });

  it('passes with rows, a newest audit row and as many public tables as production', () => {
    const answers = parseValidationOutput(
      '@@q1\n50000\n@@q2\n2026-03-01 09:59:00.5+00\n@@q3\n6\n@@end\n',
      '',
    );
    const r = judgeValidation(answers, { publicTables: '6' }, '2026-03-01T10:04:05.000Z');
    expect(r.map((x) => x.ok)).toEqual([true, true, true]);
    expect(r[1]?.detail).toBe(
      'newest audit.query_log row: 2026-03-01T09:59:00.500Z (5 min 4 s before the backup file was written)',
    );
    expect(r[2]?.detail).toBe('tables in schema public: 6 (as in production)');
    const bad = judgeValidation(parseValidationOutput('@@q1\n0\n@@q2\n\n@@q3\n5\n@@end\n', ''), {
      publicTables: '6',
    });
    expect(bad.map((x) => x.ok)).toEqual([false, false, false]);
    expect(bad[2]?.detail).toContain('5 restored, 6 in production now');
  });

  it('parses psql timestamps and writes one printable log line', () => {
    expect(parsePgTimestamp('2026-11-28 00:47:01.811091+00')).toBe('2026-11-28T00:47:01.811Z');
    expect(parsePgTimestamp('2026-11-28 03:47:01+03:00')).toBe('2026-11-28T00:47:01.000Z');
    expect(parsePgTimestamp('yesterday')).toBeUndefined();
    const results = judgeValidation(
      parseValidationOutput('@@q1\n7\n@@q2\n2026-11-28 00:47:01+00\n@@q3\n6\n', ''),
      { publicTables: null },
    );
    expect(
      verificationLogLine(
        new Date('2026-03-01T10:04:05Z'),
        { backup: { name: 'f.sql.gz' }, into: 'qnwis_test' },
        results,
      ),
    ).toBe(
      'Backup verification: 2026-03-01T10:04:05.000Z file=f.sql.gz into=qnwis_test result=passed q1=7 q2=2026-11-28_00:47:01+00 q3=6',
    );
  });
});
