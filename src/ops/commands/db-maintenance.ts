/**
 * `vacuum-analyze [TABLE]`, `analyze TABLE`, `reindex TABLE` — runbook "Performance Tuning" →
 * "Database Optimization" (`VACUUM ANALYZE;`, `REINDEX TABLE qtr_employment_stats;`,
 * `ANALYZE qtr_employment_stats;`), also "Maintenance Windows" step 2. They run on the database
 * primary through `FleetDatabase.maintain`: one statement per table on a connection of its own
 * with a long statement_timeout (default 1 h) and a lock_timeout (default 30 s), identifiers
 * quoted by pg's escapeIdentifier, as the table's owner when the bot's role may only reach the
 * owner by SET ROLE (PostgreSQL < 17 has no MAINTAIN privilege; see the adapter and the lab's
 * qnwis_maintenance role).
 *
 * - plan: the table exists (else the refusal lists the tables), the bot may act as its owner, its
 *   size, live and dead tuples, the last manual and automatic VACUUM/ANALYZE, a rough duration, and
 *   what the statement locks. Without TABLE, `vacuum-analyze` plans every user table the bot may
 *   maintain, one step each (so Cancel stops between tables and progress is per table), and lists
 *   the tables it has to leave out. The runbook's bare `VACUUM ANALYZE;` would also vacuum the
 *   system catalogs, which only the database owner or a superuser may do.
 * - precheck: the host is still a primary (maintenance cannot run on a standby), and each table is
 *   still the same table (same oid) and still maintainable.
 * - run: record the statistics (or the indexes) at run time, then the statement(s).
 * - verify: pg_stat_user_tables' last_vacuum / last_analyze moved past what was recorded (dead
 *   tuples before → after); for REINDEX every index is valid and ready, none was left over, each
 *   was rebuilt (new filenode), with its size before → after.
 *
 * REINDEX: on PostgreSQL 12+ it is `REINDEX TABLE CONCURRENTLY`. A plain REINDEX holds a SHARE
 * lock on the table for the whole rebuild (every INSERT/UPDATE/DELETE waits: the app writes
 * audit.query_log on every query) and ACCESS EXCLUSIVE on each index being rebuilt (queries that
 * would use it wait). CONCURRENTLY builds new indexes beside the old ones and swaps them, holding
 * only SHARE UPDATE EXCLUSIVE: reads and writes go on. It costs about twice the work, waits for
 * transactions older than itself, cannot run in a transaction block (the adapter sends it alone),
 * and a failure can leave an invalid `*_ccnew` index behind, which the failed step names so it can
 * be dropped. Below 12, or with `reindexConcurrently: false`, the plan says loudly that writes are
 * blocked.
 */
import { DatabaseError, DatabaseTimeoutError } from '../../errors.js';
import type { Host } from '../../inventory.js';
import type {
  MaintenanceOp,
  MaintenanceResult,
  QualifiedTable,
  TableIndex,
  TableMaintenanceStats,
} from '../adapters/postgres.js';
import { diagnose, formatBytes, formatDuration, oneLine, plural } from '../diagnostics/common.js';
import type { DiagnosticResult } from '../diagnostics/types.js';
import { plannedPrimary, primaryDbHost } from './backup.js';
import type { CommandArgs, CommandName } from './catalog.js';
import { errorText, runSteps, type StepHandler, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type JsonObject,
  PlanRefusedError,
  type PlanStep,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type VacuumAnalyzeArgs = CommandArgs['vacuum-analyze'];
export type AnalyzeArgs = CommandArgs['analyze'];
export type ReindexArgs = CommandArgs['reindex'];

/** What a plan records about one table (from pg_stat_user_tables at planning time). */
export type TableFacts = {
  readonly schema: string;
  readonly table: string;
  /** Identity: a table dropped and re-created under the same name is another table. */
  readonly oid: number;
  readonly owner: string;
  /** `set-role`: the statement runs after SET ROLE to the owner (never a superuser). */
  readonly access: 'owner' | 'set-role';
  readonly totalBytes: number;
  readonly heapBytes: number;
  readonly indexBytes: number;
  readonly indexCount: number;
  readonly liveTuples: number;
  readonly deadTuples: number;
  readonly lastVacuum: string | null;
  readonly lastAutovacuum: string | null;
  readonly lastAnalyze: string | null;
  readonly lastAutoanalyze: string | null;
  /** Rough duration of this command's statement on this table, seconds (`estimateSeconds`). */
  readonly estimateSec: number;
};

/** A table `vacuum-analyze` (whole database) has to leave out, and why. */
export type SkippedTable = { readonly name: string; readonly owner: string; readonly reason: string };

export type IndexFacts = {
  readonly name: string;
  readonly bytes: number;
  readonly valid: boolean;
};

export type MaintenanceLimits = {
  readonly statementTimeoutSec: number;
  readonly lockTimeoutSec: number;
};

export type VacuumAnalyzeFacts = MaintenanceLimits & {
  readonly host: string;
  readonly database: string;
  /** `table`: the one named; `database`: every user table the bot may maintain. */
  readonly scope: 'table' | 'database';
  readonly tables: readonly TableFacts[];
  readonly skipped: readonly SkippedTable[];
};

export type AnalyzeFacts = MaintenanceLimits & {
  readonly host: string;
  readonly database: string;
  readonly table: TableFacts;
};

export type ReindexFacts = MaintenanceLimits & {
  readonly host: string;
  readonly database: string;
  readonly table: TableFacts;
  readonly concurrently: boolean;
  readonly serverVersionNum: number;
  readonly indexes: readonly IndexFacts[];
};

export interface DbMaintenanceOptions {
  /** statement_timeout of each maintenance statement, seconds (default 3600). */
  readonly statementTimeoutSec?: number;
  /**
   * lock_timeout of each maintenance statement, seconds (default 30): when another session holds a
   * conflicting lock (a migration, LOCK TABLE) the step fails with a sentence instead of queueing.
   */
  readonly lockTimeoutSec?: number;
  /** REINDEX TABLE CONCURRENTLY on PostgreSQL 12+ (default true; see the file comment). */
  readonly reindexConcurrently?: boolean;
}

export const DEFAULT_MAINTENANCE_STATEMENT_TIMEOUT_SEC = 3600;
export const DEFAULT_MAINTENANCE_LOCK_TIMEOUT_SEC = 30;
/** REINDEX … CONCURRENTLY exists from PostgreSQL 12. */
export const REINDEX_CONCURRENTLY_MIN_VERSION = 120_000;
/** How many table names a refusal lists before "… and N more". */
const LIST_MAX = 30;

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for the unit tests)

export const qualified = (t: QualifiedTable): string => `${t.schema}.${t.table}`;

/** "public.x" → { schema, table }; "x" → { table } (any schema). The catalog has checked the syntax. */
export function splitTableName(name: string): { schema?: string; table: string } {
  const dot = name.indexOf('.');
  return dot < 0 ? { table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

/** "a, b, c … and 4 more". */
export function listNames(names: readonly string[], max = LIST_MAX): string {
  if (names.length === 0) return '(none)';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} … and ${names.length - max} more` : shown;
}

export type TableMatch =
  | { readonly ok: true; readonly table: TableMaintenanceStats }
  | {
      readonly ok: false;
      readonly reason: 'not_found' | 'ambiguous';
      readonly candidates: readonly string[];
    };

/**
 * The table `requested` names among `tables`: "schema.table" exactly; a bare name in whichever
 * schema has it, refused as ambiguous when several do (qualify it).
 */
export function matchTable(requested: string, tables: readonly TableMaintenanceStats[]): TableMatch {
  const want = splitTableName(requested);
  const hits = tables.filter(
    (t) => t.table === want.table && (want.schema === undefined || t.schema === want.schema),
  );
  const [only] = hits;
  if (hits.length === 1 && only) return { ok: true, table: only };
  if (hits.length > 1) return { ok: false, reason: 'ambiguous', candidates: hits.map(qualified) };
  return { ok: false, reason: 'not_found', candidates: tables.map(qualified) };
}

/** Assumed sequential throughput of a VACUUM or index build on the database host: a rough 64 MiB/s. */
const BYTES_PER_SEC = 64 * 1024 * 1024;

/**
 * A rough duration, seconds, from the sizes alone (I/O bound, no contention): VACUUM reads the heap
 * and every index, then samples for ANALYZE; ANALYZE samples at most 30 000 rows (300 ×
 * default_statistics_target), so it stays near a second however large the table; REINDEX scans the
 * heap once per index and sorts, and CONCURRENTLY does it about twice.
 */
export function estimateSeconds(
  op: 'vacuum-analyze' | 'analyze' | 'reindex',
  t: { readonly heapBytes: number; readonly indexBytes: number; readonly indexCount: number },
  concurrently = false,
): number {
  const scan = (bytes: number) => bytes / BYTES_PER_SEC;
  switch (op) {
    case 'vacuum-analyze':
      return Math.ceil(scan(t.heapBytes + t.indexBytes) + 1);
    case 'analyze':
      return Math.ceil(1 + Math.min(scan(t.heapBytes), 10));
    case 'reindex':
      return Math.ceil(
        (scan(t.heapBytes * t.indexCount) + scan(t.indexBytes) * 2 + 1) * (concurrently ? 2 : 1),
      );
  }
}

/** "under 5 s" for anything short; otherwise "about 3 min". */
export function describeEstimate(sec: number): string {
  return sec <= 5 ? 'under 5 s' : `about ${formatDuration(sec * 1000)}`;
}

/** A pg timestamp as the adapter gives it ("…T…Z" with microseconds), or "never". */
function when(ts: string | null): string {
  return ts === null ? 'never' : ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/**
 * Whether a last_* timestamp moved: set now and either unset before or later. The adapter's
 * timestamps are fixed-width UTC with microseconds, so text order is time order, to the µs.
 */
export function moved(before: string | null | undefined, after: string | null): boolean {
  if (after === null) return false;
  if (before === null || before === undefined) return true;
  return after > before;
}

export function tableFacts(
  t: TableMaintenanceStats,
  op: 'vacuum-analyze' | 'analyze' | 'reindex',
  concurrently = false,
): TableFacts {
  if (t.access === 'none') throw new TypeError(`${qualified(t)} is not maintainable`);
  return {
    schema: t.schema,
    table: t.table,
    oid: t.oid,
    owner: t.owner,
    access: t.access,
    totalBytes: t.totalBytes,
    heapBytes: t.heapBytes,
    indexBytes: t.indexBytes,
    indexCount: t.indexCount,
    liveTuples: t.liveTuples,
    deadTuples: t.deadTuples,
    lastVacuum: t.lastVacuum,
    lastAutovacuum: t.lastAutovacuum,
    lastAnalyze: t.lastAnalyze,
    lastAutoanalyze: t.lastAutoanalyze,
    estimateSec: estimateSeconds(op, t, concurrently),
  };
}

function describeTable(t: TableFacts): string {
  return (
    `${qualified(t)} (${formatBytes(t.totalBytes)}: heap ${formatBytes(t.heapBytes)}, ` +
    `${plural(t.indexCount, 'index', 'indexes')} ${formatBytes(t.indexBytes)}; ` +
    `${t.liveTuples} live / ${t.deadTuples} dead tuples; ` +
    `last vacuum ${when(t.lastVacuum)} (auto ${when(t.lastAutovacuum)}), ` +
    `last analyze ${when(t.lastAnalyze)} (auto ${when(t.lastAutoanalyze)}))`
  );
}

function runsAs(t: TableFacts): string {
  return t.access === 'set-role'
    ? `as its owner ${t.owner} (SET ROLE)`
    : `as the bot's role (it has ${t.owner}'s rights)`;
}

function limitsText(l: MaintenanceLimits): string {
  return `statement_timeout ${formatDuration(l.statementTimeoutSec * 1000)}, lock_timeout ${formatDuration(l.lockTimeoutSec * 1000)}`;
}

/** Why the bot may not maintain `t`, for a refusal. */
function accessRefusal(t: TableMaintenanceStats, user: string, verb: string): string {
  return (
    `${user} may not ${verb} ${qualified(t)}: it belongs to ${t.owner}` +
    (t.ownerIsSuperuser ? ', a superuser,' : '') +
    ` and ${verb} needs the owner's rights (PostgreSQL < 17). Make the table owner a non-superuser role ` +
    `that ${user} reaches through a NOINHERIT role (as the lab's qnwis_maintenance)`
  );
}

/** What VACUUM VERBOSE reports about a table's dead tuples (PostgreSQL 14+ wording). */
export type VacuumReport = {
  readonly removed: number;
  readonly remain: number;
  /** Dead, but an older snapshot (a long transaction, a standby's hot_standby_feedback) still sees them. */
  readonly notRemovable: number;
};

/**
 * The table's own report among VACUUM VERBOSE's INFO messages ("finished vacuuming
 * "db.schema.table": …" / "tuples: 15 removed, 15 remain, 0 are dead but not yet removable"),
 * not its TOAST table's; undefined when absent or worded otherwise (another server version or
 * lc_messages).
 */
export function vacuumReport(
  notices: readonly { readonly severity: string; readonly message: string }[],
  t: QualifiedTable,
): VacuumReport | undefined {
  const suffix = `.${t.schema}.${t.table}":`;
  for (const n of notices) {
    const [first = '', ...rest] = n.message.split('\n');
    if (!first.startsWith('finished vacuuming "') || !first.includes(suffix)) continue;
    for (const line of rest) {
      const m = /^tuples: ([0-9]+) removed, ([0-9]+) remain, ([0-9]+) are dead but not yet removable/.exec(
        line.trim(),
      );
      if (m) return { removed: Number(m[1]), remain: Number(m[2]), notRemovable: Number(m[3]) };
    }
  }
  return undefined;
}

export function describeVacuumReport(r: VacuumReport): string {
  return (
    `removed ${plural(r.removed, 'dead tuple')}` +
    (r.notRemovable > 0
      ? `; ${r.notRemovable} more are dead but not yet removable: an older transaction or a standby ` +
        '(hot_standby_feedback) still sees them, a later VACUUM or autovacuum removes them'
      : '')
  );
}

/** A maintenance failure as one sentence. */
export function maintenanceErrorText(err: unknown, table: string, limits: MaintenanceLimits): string {
  if (err instanceof DatabaseError && err.sqlState === '55P03') {
    return (
      `${table} is locked by another session (gave up after lock_timeout ` +
      `${formatDuration(limits.lockTimeoutSec * 1000)}); pg-active-queries shows who holds it`
    );
  }
  if (err instanceof DatabaseTimeoutError) {
    return `${table}: the statement did not finish within ${formatDuration(err.timeoutMs)} and was cancelled`;
  }
  return errorText(err);
}

function refusalOf(r: Extract<MaintenanceResult, { done: false }>): string {
  switch (r.reason) {
    case 'not_found':
      return `${r.detail} (dropped since the plan?)`;
    case 'not_permitted':
      return r.detail;
    case 'skipped':
      return `the server skipped it: ${r.detail}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Shared plumbing

/** Reads the tables, turning what planning cannot get past into a refusal. */
async function readTables(
  ctx: CommandContext,
  command: CommandName,
  host: Host,
  filter: { schema?: string; table?: string } = {},
): Promise<TableMaintenanceStats[]> {
  try {
    return await ctx.db.userTables(host, filter);
  } catch (err) {
    if (err instanceof DatabaseError && err.sqlState === '55P03') {
      const which = filter.table ? `${filter.schema ? `${filter.schema}.` : ''}${filter.table}` : 'a table';
      throw new PlanRefusedError(
        command,
        `${which} is locked exclusively by another session on ${host.name}; the statement would queue ` +
          'behind it (pg-active-queries shows who holds it)',
      );
    }
    throw new PlanRefusedError(command, `cannot read the tables on ${host.name}: ${errorText(err)}`);
  }
}

/** The one table a command names, or the refusal (listing the tables when it does not exist). */
async function planTable(
  ctx: CommandContext,
  command: CommandName,
  host: Host,
  requested: string,
  verb: string,
): Promise<TableMaintenanceStats> {
  const found = await readTables(ctx, command, host, splitTableName(requested));
  let match = matchTable(requested, found);
  if (!match.ok && match.reason === 'not_found') {
    // The filtered read saw nothing; list every table for the refusal (best effort).
    let all: TableMaintenanceStats[] | undefined;
    try {
      all = await ctx.db.userTables(host);
    } catch {
      all = undefined;
    }
    match = matchTable(requested, all ?? []);
    if (!match.ok) {
      throw new PlanRefusedError(
        command,
        `no table "${requested}" in ${ctx.inventory.database.name} on ${host.name}; ` +
          (all ? `tables: ${listNames(match.candidates)}` : 'the list of tables could not be read'),
      );
    }
  }
  if (!match.ok) {
    throw new PlanRefusedError(
      command,
      `"${requested}" is in several schemas (${listNames(match.candidates)}): name it as schema.table`,
    );
  }
  if (match.table.access === 'none')
    throw new PlanRefusedError(command, accessRefusal(match.table, ctx.inventory.database.user, verb));
  return match.table;
}

/** Precheck shared by the three: the host is a primary and every planned table is still itself. */
async function precheckTables(
  ctx: CommandContext,
  hostName: string,
  tables: readonly TableFacts[],
): Promise<{ result: PrecheckResult; host?: Host }> {
  const refuse = (reason: string) => ({ result: { ok: false, reason } as const });
  const host = plannedPrimary(ctx, hostName);
  if (typeof host === 'string') return refuse(host);
  try {
    if (await ctx.db.isInRecovery(host))
      return refuse(`${host.name} is a standby (in recovery) now: maintenance must run on the primary`);
  } catch (err) {
    return refuse(`cannot reach the database on ${host.name}: ${errorText(err)}`);
  }
  let now: TableMaintenanceStats[];
  try {
    now = await ctx.db.userTables(
      host,
      tables.length === 1 && tables[0] ? { schema: tables[0].schema, table: tables[0].table } : {},
    );
  } catch (err) {
    if (err instanceof DatabaseError && err.sqlState === '55P03')
      return refuse(`a planned table is locked exclusively by another session on ${host.name}`);
    return refuse(`cannot read the tables on ${host.name}: ${errorText(err)}`);
  }
  const problems: string[] = [];
  for (const t of tables) {
    const cur = now.find((n) => n.schema === t.schema && n.table === t.table);
    if (!cur) problems.push(`${qualified(t)} no longer exists`);
    else if (cur.oid !== t.oid) problems.push(`${qualified(t)} was dropped and re-created since the plan`);
    else if (cur.access === 'none')
      problems.push(`the bot may no longer act as the owner of ${qualified(t)}`);
  }
  if (problems.length > 0) return refuse(oneLine(`${problems.join('; ')}: plan again`, 600));
  return {
    host,
    result: {
      ok: true,
      detail: `${host.name} is the primary; ${plural(tables.length, 'planned table')} unchanged`,
    },
  };
}

/** Statistics of the planned tables now, by qualified name. */
async function statsByName(
  ctx: CommandContext,
  host: Host,
  tables: readonly TableFacts[],
): Promise<Map<string, TableMaintenanceStats>> {
  const filter = tables.length === 1 && tables[0] ? { schema: tables[0].schema, table: tables[0].table } : {};
  const rows = await ctx.db.userTables(host, filter);
  return new Map(rows.map((r) => [qualified(r), r]));
}

type Snapshot = {
  readonly lastVacuum: string | null;
  readonly lastAnalyze: string | null;
  readonly deadTuples: number;
};

function snapshot(t: TableMaintenanceStats): Snapshot {
  return { lastVacuum: t.lastVacuum, lastAnalyze: t.lastAnalyze, deadTuples: t.deadTuples };
}

function recordStatsHandler(
  ctx: CommandContext,
  hostName: string,
  tables: readonly TableFacts[],
  into: Record<string, Snapshot>,
): StepHandler {
  return async () => {
    const host = plannedPrimary(ctx, hostName);
    if (typeof host === 'string') return { status: 'failed', detail: host };
    const now = await statsByName(ctx, host, tables);
    const missing = tables.filter((t) => !now.has(qualified(t))).map(qualified);
    if (missing.length > 0) return { status: 'failed', detail: `gone since the plan: ${listNames(missing)}` };
    for (const t of tables) {
      const cur = now.get(qualified(t));
      if (cur) into[qualified(t)] = snapshot(cur);
    }
    const [one] = tables;
    const single = tables.length === 1 && one ? into[qualified(one)] : undefined;
    return {
      status: 'done',
      detail: single
        ? `${qualified(tables[0] as TableFacts)}: ${single.deadTuples} dead tuples, last vacuum ${when(single.lastVacuum)}, last analyze ${when(single.lastAnalyze)}`
        : `recorded the statistics of ${plural(tables.length, 'table')}`,
    };
  };
}

function maintainHandler(
  ctx: CommandContext,
  hostName: string,
  op: MaintenanceOp,
  t: TableFacts,
  limits: MaintenanceLimits,
  onReport?: (r: VacuumReport) => void,
): StepHandler {
  return async (): Promise<StepResult> => {
    const host = plannedPrimary(ctx, hostName);
    if (typeof host === 'string') return { status: 'failed', detail: host };
    let r: MaintenanceResult;
    try {
      r = await ctx.db.maintain(host, op, t, {
        statementTimeoutMs: limits.statementTimeoutSec * 1000,
        lockTimeoutMs: limits.lockTimeoutSec * 1000,
      });
    } catch (err) {
      return { status: 'failed', detail: maintenanceErrorText(err, qualified(t), limits) };
    }
    if (!r.done) return { status: 'failed', detail: `${qualified(t)}: ${refusalOf(r)}` };
    // INFO is VACUUM VERBOSE's report (summarised below); NOTICE and WARNING are worth passing on.
    const said = r.notices.filter((n) => n.severity !== 'INFO').map((n) => n.message);
    const notes = said.length > 0 ? `; server said: ${oneLine(said.join(' | '), 300)}` : '';
    const report = op === 'vacuum-analyze' ? vacuumReport(r.notices, t) : undefined;
    if (report && onReport) onReport(report);
    return {
      status: 'done',
      detail:
        `${r.statement} took ${formatDuration(r.tookMs)} as ${r.ranAs}${r.setRole ? ' (SET ROLE)' : ''}` +
        (report ? `; ${describeVacuumReport(report)}` : '') +
        notes,
    };
  };
}

function evidence(
  host: string,
  body: () => Promise<{ status: 'ok' | 'warn'; summary: string; data?: JsonObject }>,
): Promise<DiagnosticResult> {
  return diagnose('pg-table-maintenance', host, body);
}

/** Compares recorded and current last_* per table; `need` picks which must have moved. */
function judgeStats(
  tables: readonly TableFacts[],
  before: Readonly<Record<string, Snapshot>>,
  now: ReadonlyMap<string, TableMaintenanceStats>,
  need: { vacuum: boolean; analyze: boolean },
): { ok: boolean; lines: string[]; problems: string[]; beforeText: string[] } {
  const lines: string[] = [];
  const problems: string[] = [];
  const beforeText: string[] = [];
  for (const t of tables) {
    const name = qualified(t);
    const b = before[name] ?? {
      lastVacuum: t.lastVacuum,
      lastAnalyze: t.lastAnalyze,
      deadTuples: t.deadTuples,
    };
    const cur = now.get(name);
    beforeText.push(
      `${name}: ${b.deadTuples} dead tuples, last vacuum ${when(b.lastVacuum)}, last analyze ${when(b.lastAnalyze)}`,
    );
    if (!cur) {
      problems.push(`${name} is gone`);
      continue;
    }
    const vac = moved(b.lastVacuum, cur.lastVacuum);
    const ana = moved(b.lastAnalyze, cur.lastAnalyze);
    lines.push(
      `${name}: ${cur.deadTuples} dead tuples (was ${b.deadTuples}), last vacuum ${when(cur.lastVacuum)}, last analyze ${when(cur.lastAnalyze)}`,
    );
    if (need.vacuum && !vac) problems.push(`${name}: last_vacuum did not move (${when(cur.lastVacuum)})`);
    if (need.analyze && !ana) problems.push(`${name}: last_analyze did not move (${when(cur.lastAnalyze)})`);
  }
  return { ok: problems.length === 0, lines, problems, beforeText };
}

async function verifyStats(
  ctx: CommandContext,
  hostName: string,
  tables: readonly TableFacts[],
  outcome: { readonly observations: JsonObject },
  need: { vacuum: boolean; analyze: boolean },
  what: string,
): Promise<VerifyResult> {
  const before = (outcome.observations.before ?? {}) as Readonly<Record<string, Snapshot>>;
  const host = plannedPrimary(ctx, hostName);
  if (typeof host === 'string') return { ok: false, after: host, detail: host, evidence: [] };
  let judged: ReturnType<typeof judgeStats> | undefined;
  const result = await evidence(host.name, async () => {
    const now = await statsByName(ctx, host, tables);
    judged = judgeStats(tables, before, now, need);
    return {
      status: judged.ok ? 'ok' : 'warn',
      summary: oneLine(`${host.name}: ${judged.lines.join('; ') || 'no table found'}`, 600),
      data: { tables: judged.lines, problems: judged.problems },
    };
  });
  if (!judged) {
    return {
      ok: false,
      after: result.summary,
      detail: `cannot read pg_stat_user_tables: ${result.summary}`,
      evidence: [result],
    };
  }
  return {
    ok: judged.ok,
    before: oneLine(judged.beforeText.join('; '), 1500),
    after: oneLine(judged.lines.join('; '), 1500),
    detail: judged.ok
      ? `${what} ran on ${plural(tables.length, 'table')}: pg_stat_user_tables shows it`
      : oneLine(judged.problems.join('; '), 800),
    evidence: [result],
  };
}

function resolveLimits(opts: DbMaintenanceOptions): MaintenanceLimits {
  const statementTimeoutSec = opts.statementTimeoutSec ?? DEFAULT_MAINTENANCE_STATEMENT_TIMEOUT_SEC;
  const lockTimeoutSec = opts.lockTimeoutSec ?? DEFAULT_MAINTENANCE_LOCK_TIMEOUT_SEC;
  if (!Number.isInteger(statementTimeoutSec) || statementTimeoutSec < 10 || statementTimeoutSec > 86_400)
    throw new RangeError('statementTimeoutSec must be a whole number of seconds, 10..86400');
  if (!Number.isInteger(lockTimeoutSec) || lockTimeoutSec < 1 || lockTimeoutSec > statementTimeoutSec)
    throw new RangeError('lockTimeoutSec must be a whole number of seconds, 1..statementTimeoutSec');
  return { statementTimeoutSec, lockTimeoutSec };
}

const VACUUM_LOCK =
  'SHARE UPDATE EXCLUSIVE lock: reads and writes go on; DDL, other VACUUM/ANALYZE and CREATE INDEX wait';

// ---------------------------------------------------------------------------------------------
// vacuum-analyze

export function createVacuumAnalyzeCommand(
  opts: DbMaintenanceOptions = {},
): CommandModule<VacuumAnalyzeArgs, VacuumAnalyzeFacts> {
  const limits = resolveLimits(opts);
  return {
    name: 'vacuum-analyze',

    async plan(ctx, args) {
      const host = primaryDbHost(ctx.inventory, 'vacuum-analyze');
      let tables: TableFacts[];
      let skipped: SkippedTable[] = [];
      if (args.table !== null) {
        tables = [
          tableFacts(await planTable(ctx, 'vacuum-analyze', host, args.table, 'VACUUM'), 'vacuum-analyze'),
        ];
      } else {
        const all = await readTables(ctx, 'vacuum-analyze', host);
        tables = all.filter((t) => t.access !== 'none').map((t) => tableFacts(t, 'vacuum-analyze'));
        skipped = all
          .filter((t) => t.access === 'none')
          .map((t) => ({
            name: qualified(t),
            owner: t.owner,
            reason: `owned by ${t.owner}${t.ownerIsSuperuser ? ' (superuser)' : ''}, which the bot may not act as`,
          }));
        if (tables.length === 0) {
          throw new PlanRefusedError(
            'vacuum-analyze',
            all.length === 0
              ? `${ctx.inventory.database.name} on ${host.name} has no user tables`
              : `the bot may maintain none of the ${all.length} tables of ${ctx.inventory.database.name}: ${listNames(skipped.map((s) => `${s.name} (${s.owner})`))}`,
          );
        }
      }
      const totalBytes = tables.reduce((n, t) => n + t.totalBytes, 0);
      const totalSec = tables.reduce((n, t) => n + t.estimateSec, 0);
      const steps: PlanStep[] = [
        {
          id: 'record-stats',
          host: host.name,
          kind: 'capture',
          description: `Record dead tuples and last_vacuum/last_analyze of ${tables.length === 1 && tables[0] ? qualified(tables[0]) : plural(tables.length, 'table')} (pg_stat_user_tables)`,
        },
        ...tables.map(
          (t): PlanStep => ({
            id: `vacuum-analyze:${qualified(t)}`,
            host: host.name,
            kind: 'sql',
            description: oneLine(
              `VACUUM (VERBOSE, ANALYZE) ${qualified(t)} on ${host.name} ${runsAs(t)}; ${describeTable(t)}; ` +
                `estimate ${describeEstimate(t.estimateSec)}; ${VACUUM_LOCK}; ${limitsText(limits)}`,
              900,
            ),
            timeoutSec: limits.statementTimeoutSec,
          }),
        ),
      ];
      const [one] = tables;
      return {
        command: 'vacuum-analyze',
        summary:
          args.table === null || !one
            ? `vacuum-analyze (${plural(tables.length, 'table')})`
            : `vacuum-analyze ${qualified(one)}`,
        steps,
        blastRadius:
          `${plural(tables.length, 'table')} of ${ctx.inventory.database.name} on ${host.name} ` +
          `(${formatBytes(totalBytes)}), one at a time, estimate ${describeEstimate(totalSec)}; ` +
          'reads and writes are not blocked; it adds I/O on the primary' +
          (skipped.length > 0 ? `; left out: ${listNames(skipped.map((s) => s.name))}` : ''),
        facts: {
          host: host.name,
          database: ctx.inventory.database.name,
          scope: args.table === null ? 'database' : 'table',
          tables,
          skipped,
          ...limits,
        },
      };
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      return (await precheckTables(ctx, plan.facts.host, plan.facts.tables)).result;
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const before: Record<string, Snapshot> = {};
      const vacuumed: Record<string, VacuumReport> = {};
      const handlers: Record<string, StepHandler> = {
        'record-stats': recordStatsHandler(ctx, f.host, f.tables, before),
      };
      for (const t of f.tables) {
        handlers[`vacuum-analyze:${qualified(t)}`] = maintainHandler(
          ctx,
          f.host,
          'vacuum-analyze',
          t,
          f,
          (r) => {
            vacuumed[qualified(t)] = r;
          },
        );
      }
      return runSteps({ plan, report, signal, handlers, observations: () => ({ before, vacuumed }) });
    },

    async verify(ctx, _args, plan, outcome) {
      return verifyStats(
        ctx,
        plan.facts.host,
        plan.facts.tables,
        outcome,
        { vacuum: true, analyze: true },
        'VACUUM (VERBOSE, ANALYZE)',
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// analyze

export function createAnalyzeCommand(
  opts: DbMaintenanceOptions = {},
): CommandModule<AnalyzeArgs, AnalyzeFacts> {
  const limits = resolveLimits(opts);
  return {
    name: 'analyze',

    async plan(ctx, args) {
      const host = primaryDbHost(ctx.inventory, 'analyze');
      const t = tableFacts(await planTable(ctx, 'analyze', host, args.table, 'ANALYZE'), 'analyze');
      return {
        command: 'analyze',
        summary: `analyze ${qualified(t)}`,
        steps: [
          {
            id: 'record-stats',
            host: host.name,
            kind: 'capture',
            description: `Record last_analyze of ${qualified(t)} (pg_stat_user_tables)`,
          },
          {
            id: `analyze:${qualified(t)}`,
            host: host.name,
            kind: 'sql',
            description: oneLine(
              `ANALYZE ${qualified(t)} on ${host.name} ${runsAs(t)}; ${describeTable(t)}; ` +
                `estimate ${describeEstimate(t.estimateSec)} (samples at most 30 000 rows); ${VACUUM_LOCK}; ${limitsText(limits)}`,
              900,
            ),
            timeoutSec: limits.statementTimeoutSec,
          },
        ],
        blastRadius:
          `1 table on ${host.name}: ${qualified(t)} (${formatBytes(t.totalBytes)}); only its planner ` +
          'statistics change (query plans may change); reads and writes are not blocked',
        facts: { host: host.name, database: ctx.inventory.database.name, table: t, ...limits },
      };
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      return (await precheckTables(ctx, plan.facts.host, [plan.facts.table])).result;
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const before: Record<string, Snapshot> = {};
      return runSteps({
        plan,
        report,
        signal,
        handlers: {
          'record-stats': recordStatsHandler(ctx, f.host, [f.table], before),
          [`analyze:${qualified(f.table)}`]: maintainHandler(ctx, f.host, 'analyze', f.table, f),
        },
        observations: () => ({ before }),
      });
    },

    async verify(ctx, _args, plan, outcome) {
      return verifyStats(
        ctx,
        plan.facts.host,
        [plan.facts.table],
        outcome,
        { vacuum: false, analyze: true },
        'ANALYZE',
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// reindex

/** The indexes a failed REINDEX … CONCURRENTLY leaves behind (PostgreSQL names them *_ccnew / *_ccold). */
export function leftoverIndexes(
  indexes: readonly { readonly name: string; readonly valid: boolean }[],
): string[] {
  return indexes.filter((i) => !i.valid && /_cc(new|old)[0-9]*$/.test(i.name)).map((i) => i.name);
}

export type IndexComparison = {
  readonly ok: boolean;
  readonly lines: readonly string[];
  readonly problems: readonly string[];
};

/** Before/after of a REINDEX: same index names, all valid and ready, each rebuilt (new filenode). */
export function compareIndexes(before: readonly TableIndex[], after: readonly TableIndex[]): IndexComparison {
  const lines: string[] = [];
  const problems: string[] = [];
  for (const b of before) {
    const a = after.find((i) => i.name === b.name);
    if (!a) {
      problems.push(`${b.name} is gone`);
      continue;
    }
    lines.push(`${a.name} ${formatBytes(b.bytes)} → ${formatBytes(a.bytes)}`);
    if (!a.valid || !a.ready) problems.push(`${a.name} is ${a.valid ? 'not ready' : 'invalid'}`);
    else if (a.filenode === b.filenode && b.valid)
      problems.push(`${a.name} was not rebuilt (same filenode ${a.filenode})`);
  }
  const extra = after.filter((a) => !before.some((b) => b.name === a.name)).map((a) => a.name);
  if (extra.length > 0)
    problems.push(`indexes left over: ${extra.join(', ')} (drop them with DROP INDEX CONCURRENTLY)`);
  return { ok: problems.length === 0 && before.length > 0, lines, problems };
}

export function createReindexCommand(
  opts: DbMaintenanceOptions = {},
): CommandModule<ReindexArgs, ReindexFacts> {
  const limits = resolveLimits(opts);
  const allowConcurrently = opts.reindexConcurrently ?? true;
  return {
    name: 'reindex',

    async plan(ctx, args) {
      const host = primaryDbHost(ctx.inventory, 'reindex');
      const stats = await planTable(ctx, 'reindex', host, args.table, 'REINDEX');
      let version: number;
      let indexes: TableIndex[];
      try {
        [version, indexes] = await Promise.all([
          ctx.db.serverVersionNum(host),
          ctx.db.tableIndexes(host, stats),
        ]);
      } catch (err) {
        throw new PlanRefusedError(
          'reindex',
          `cannot read the indexes of ${qualified(stats)}: ${maintenanceErrorText(err, qualified(stats), limits)}`,
        );
      }
      if (indexes.length === 0)
        throw new PlanRefusedError('reindex', `${qualified(stats)} has no index: nothing to rebuild`);
      const concurrently = allowConcurrently && version >= REINDEX_CONCURRENTLY_MIN_VERSION;
      const t = tableFacts(stats, 'reindex', concurrently);
      const invalid = indexes.filter((i) => !i.valid).map((i) => i.name);
      const statement = `REINDEX TABLE ${concurrently ? 'CONCURRENTLY ' : ''}${qualified(t)}`;
      const locks = concurrently
        ? 'CONCURRENTLY: SHARE UPDATE EXCLUSIVE only, reads and writes go on; it waits for transactions ' +
          'older than itself and does about twice the work; if it fails, an invalid *_ccnew index may be left to drop'
        : 'WARNING: blocks every write to the table for the whole rebuild (SHARE lock) and reads that use the ' +
          'index being rebuilt (ACCESS EXCLUSIVE on it)' +
          (version < REINDEX_CONCURRENTLY_MIN_VERSION
            ? ` (PostgreSQL ${Math.floor(version / 10_000)} has no CONCURRENTLY)`
            : '');
      return {
        command: 'reindex',
        summary: `reindex ${qualified(t)}${concurrently ? ' (concurrently)' : ''}`,
        steps: [
          {
            id: 'record-indexes',
            host: host.name,
            kind: 'capture',
            description: `Record the indexes of ${qualified(t)} with size, validity and filenode: ${indexes.map((i) => `${i.name} ${formatBytes(i.bytes)}`).join(', ')}`,
          },
          {
            id: `reindex:${qualified(t)}`,
            host: host.name,
            kind: 'sql',
            description: oneLine(
              `${statement} on ${host.name} ${runsAs(t)}; ${describeTable(t)}; estimate ${describeEstimate(t.estimateSec)}; ` +
                `${locks}; ${limitsText(limits)}` +
                (invalid.length > 0
                  ? `; invalid already (skipped, drop or REINDEX INDEX them): ${invalid.join(', ')}`
                  : ''),
              1000,
            ),
            timeoutSec: limits.statementTimeoutSec,
          },
        ],
        blastRadius: concurrently
          ? `1 table on ${host.name}: ${qualified(t)} (${plural(indexes.length, 'index', 'indexes')}, ${formatBytes(t.indexBytes)}); reads and writes go on; extra I/O and about ${formatBytes(t.indexBytes)} of extra disk while new and old indexes coexist`
          : `1 table on ${host.name}: ${qualified(t)}: WRITES ARE BLOCKED for the rebuild (estimate ${describeEstimate(t.estimateSec)})`,
        facts: {
          host: host.name,
          database: ctx.inventory.database.name,
          table: t,
          concurrently,
          serverVersionNum: version,
          indexes: indexes.map((i) => ({ name: i.name, bytes: i.bytes, valid: i.valid })),
          ...limits,
        },
      };
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      const { result: r, host } = await precheckTables(ctx, plan.facts.host, [plan.facts.table]);
      if (!r.ok || !host) return r;
      try {
        const now = await ctx.db.tableIndexes(host, plan.facts.table);
        if (now.length === 0)
          return { ok: false, reason: `${qualified(plan.facts.table)} has no index any more` };
      } catch (err) {
        return {
          ok: false,
          reason: `cannot read the indexes of ${qualified(plan.facts.table)}: ${errorText(err)}`,
        };
      }
      return r;
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let before: TableIndex[] = [];
      const op: MaintenanceOp = f.concurrently ? 'reindex-concurrently' : 'reindex';
      const rebuild = maintainHandler(ctx, f.host, op, f.table, f);
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ indexesBefore: before.map((i) => ({ ...i })) }),
        handlers: {
          'record-indexes': async () => {
            const host = plannedPrimary(ctx, f.host);
            if (typeof host === 'string') return { status: 'failed', detail: host };
            before = await ctx.db.tableIndexes(host, f.table);
            if (before.length === 0)
              return { status: 'failed', detail: `${qualified(f.table)} has no index any more` };
            return {
              status: 'done',
              detail: oneLine(
                before
                  .map((i) => `${i.name} ${formatBytes(i.bytes)}${i.valid ? '' : ' (invalid)'}`)
                  .join(', '),
                500,
              ),
            };
          },
          [`reindex:${qualified(f.table)}`]: async (s) => {
            const r = await rebuild(s);
            if (r.status !== 'failed' || !f.concurrently) return r;
            // A failed CONCURRENTLY rebuild may leave invalid copies: name them for the operator.
            const host = plannedPrimary(ctx, f.host);
            if (typeof host === 'string') return r;
            try {
              const left = leftoverIndexes(await ctx.db.tableIndexes(host, f.table));
              return left.length === 0
                ? r
                : {
                    status: 'failed',
                    detail: `${r.detail}; left behind (invalid, drop with DROP INDEX CONCURRENTLY): ${left.join(', ')}`,
                  };
            } catch {
              return r;
            }
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const recorded = (outcome.observations.indexesBefore ?? []) as unknown as TableIndex[];
      const beforeText = (recorded.length > 0 ? recorded : f.indexes)
        .map((i) => `${i.name} ${formatBytes(i.bytes)}${i.valid ? '' : ' (invalid)'}`)
        .join(', ');
      const host = plannedPrimary(ctx, f.host);
      if (typeof host === 'string')
        return { ok: false, before: beforeText, after: host, detail: host, evidence: [] };
      let cmp: IndexComparison | undefined;
      let afterText = '';
      const result = await evidence(host.name, async () => {
        const now = await ctx.db.tableIndexes(host, f.table);
        afterText = now
          .map(
            (i) =>
              `${i.name} ${formatBytes(i.bytes)}${i.valid ? '' : ' (invalid)'}${i.ready ? '' : ' (not ready)'}`,
          )
          .join(', ');
        cmp =
          recorded.length > 0
            ? compareIndexes(recorded, now)
            : {
                ok: false,
                lines: [],
                problems: ['the indexes were not recorded before the rebuild (the run stopped early)'],
              };
        return {
          status: cmp.ok ? 'ok' : 'warn',
          summary: oneLine(`${host.name}: ${qualified(f.table)}: ${cmp.lines.join(', ') || afterText}`, 600),
          data: { indexes: now.map((i) => ({ ...i })), problems: [...cmp.problems] },
        };
      });
      if (!cmp)
        return {
          ok: false,
          before: beforeText,
          after: result.summary,
          detail: `cannot read the indexes: ${result.summary}`,
          evidence: [result],
        };
      return {
        ok: cmp.ok,
        before: oneLine(beforeText, 1000),
        after: oneLine(afterText, 1000),
        detail: cmp.ok
          ? `every index of ${qualified(f.table)} was rebuilt and is valid: ${cmp.lines.join(', ')}`
          : oneLine(`${qualified(f.table)}: ${cmp.problems.join('; ')}`, 800),
        evidence: [result],
      };
    },
  };
}

/** The three with the default limits (1 h statement, 30 s lock, CONCURRENTLY on 12+). */
export const vacuumAnalyze = createVacuumAnalyzeCommand();
export const analyze = createAnalyzeCommand();
export const reindex = createReindexCommand();
