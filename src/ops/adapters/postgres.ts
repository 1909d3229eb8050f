/**
 * PostgreSQL adapter: the runbook's database checks and actions against the fleet's database hosts
 * (db-primary, db-replica), as the bot's least-privilege role (`inventory.database.user`, e.g.
 * `qnwis_ops`: pg_read_all_stats, pg_signal_backend, EXECUTE on pg_promote).
 *
 * - One small `pg.Pool` per host, opened on first use. Every connection carries a server-side
 *   `statement_timeout` (so a stuck diagnostic never holds a backend) and every query a client-side
 *   timeout a little longer (so a dead or partitioned server never holds the bot). A connection
 *   whose query timed out on our side or whose socket failed is destroyed, never reused.
 * - SQL text comes only from the `SQL` constants below; values travel as bind parameters. The one
 *   exception is table maintenance (VACUUM, ANALYZE, REINDEX, SET ROLE), which takes no parameters:
 *   `maintenanceStatement` builds it from fixed keywords and identifiers quoted with pg's
 *   `escapeIdentifier`, and `maintain` runs it on a connection of its own (see there).
 * - Failures are typed (src/errors.ts): unreachable and timed out are transient; a write on a
 *   standby is `DatabaseReadOnlyError` (25006, permanent); anything else is `DatabaseError` with the
 *   SQLSTATE.
 * - The password is passed in by the wiring code (which resolves `database.password_env`); it is
 *   only ever handed to pg, never logged.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  DatabaseError,
  DatabaseReadOnlyError,
  DatabaseTimeoutError,
  DatabaseUnreachableError,
  InvalidArgumentError,
  type QnwisError,
  UnknownHostError,
} from '../../errors.js';
import type { Host, Inventory } from '../../inventory.js';
import { type Logger, silentLogger } from '../../observability/logger.js';

export interface FleetDatabaseOptions {
  /** `inventory.database`: port, database name, login role, app pool size. */
  readonly database: Pick<Inventory['database'], 'name' | 'port' | 'user' | 'appPoolSize'>;
  /** Password of `database.user`, resolved from `database.password_env` by the caller. */
  readonly password: string | undefined;
  /** Server-side statement_timeout on every connection. Default 5000 ms. */
  readonly statementTimeoutMs?: number;
  /** Client-side limit per query; default statementTimeoutMs + 2000 ms so the server's fires first. */
  readonly queryTimeoutMs?: number;
  /** TCP connect + authentication limit. Default 3000 ms. */
  readonly connectTimeoutMs?: number;
  /** Connections per host. Default 2: the bot must never compete with the app for connections. */
  readonly maxConnectionsPerHost?: number;
  /** Idle connections are closed after this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * statement_timeout of a maintenance statement (`maintain`) unless the call gives one. Default
   * 1 h: a VACUUM or REINDEX of a large table legitimately runs for many minutes.
   */
  readonly maintenanceStatementTimeoutMs?: number;
  /**
   * lock_timeout of a maintenance statement unless the call gives one. Default 30 s: a session that
   * holds the table (a migration, LOCK TABLE) makes it fail with 55P03 instead of waiting.
   */
  readonly maintenanceLockTimeoutMs?: number;
  readonly logger?: Logger;
}

/** Connections to the inventory's database on one host (pg_stat_activity), excluding the bot's own. */
export interface ConnectionCount {
  readonly database: string;
  readonly total: number;
  readonly active: number;
  readonly idle: number;
  readonly idleInTransaction: number;
  /** The server's max_connections (all databases). */
  readonly maxConnections: number;
  /** `inventory.database.app_pool_size`, the number to compare `total` with. */
  readonly appPoolSize: number;
}

/** A backend that is running a statement (pg_stat_activity, state = 'active'). */
export interface ActiveQuery {
  readonly pid: number;
  readonly user: string | null;
  readonly database: string | null;
  readonly applicationName: string | null;
  readonly clientAddr: string | null;
  readonly state: string;
  readonly waitEventType: string | null;
  /** How long the current statement has been running, in ms. */
  readonly ageMs: number;
  /** Statement text, as pg_stat_activity shows it (cut at track_activity_query_size). */
  readonly query: string;
  /** ISO-8601 UTC with microseconds: exact, so it can be handed back to `terminateBackend`. */
  readonly backendStart: string;
  readonly queryStart: string;
}

/** What the caller saw when it decided to terminate; every given field must still hold. */
export interface TerminateExpectation {
  readonly queryStart?: string;
  readonly backendStart?: string;
  readonly query?: string;
}

export type TerminateRefusal =
  /** No client backend with that pid. */
  | 'not_found'
  /** The pid is the bot's own connection. */
  | 'own_backend'
  /** The pid now belongs to another session or runs another statement than expected. */
  | 'changed'
  /** Same session and statement, but the statement has finished (backend no longer active). */
  | 'finished'
  /** The target is a superuser backend; pg_signal_backend may not signal it (42501). */
  | 'not_permitted'
  /** The signal could not be sent (the backend exited in between). */
  | 'signal_failed';

export interface BackendSnapshot {
  readonly state: string | null;
  readonly query: string | null;
  readonly queryStart: string | null;
  readonly backendStart: string | null;
}

export type TerminateResult =
  | { readonly terminated: true; readonly pid: number }
  | {
      readonly terminated: false;
      readonly pid: number;
      readonly reason: TerminateRefusal;
      /** The backend as it was when we looked, when it exists. */
      readonly current?: BackendSnapshot;
    };

export interface StandbyPeer {
  readonly pid: number;
  readonly user: string | null;
  readonly applicationName: string | null;
  readonly clientAddr: string | null;
  readonly state: string | null;
  readonly syncState: string | null;
  readonly sentLsn: string | null;
  readonly replayLsn: string | null;
  /** pg_stat_replication.replay_lag in seconds; null once the standby is caught up and idle. */
  readonly replayLagSeconds: number | null;
  /** WAL bytes the standby has not replayed yet (pg_wal_lsn_diff of current and replay LSN). */
  readonly replayLagBytes: number | null;
}

export type ReplicationStatus =
  | {
      readonly role: 'primary';
      readonly currentLsn: string;
      readonly standbys: readonly StandbyPeer[];
    }
  | {
      readonly role: 'replica';
      readonly receiveLsn: string | null;
      readonly replayLsn: string | null;
      /**
       * 0 when everything received is replayed; otherwise seconds since the last replayed
       * transaction committed on the primary. (now() − pg_last_xact_replay_timestamp() alone would
       * report the idle time of the primary as lag: LAB-NOTES measured 3.3 s on an idle pair.)
       * null when it cannot be judged (nothing received or replayed since start).
       */
      readonly lagSeconds: number | null;
      /** Received but not yet replayed WAL, in bytes. */
      readonly lagBytes: number | null;
      readonly replayPaused: boolean;
      readonly lastReplayAt: string | null;
      /** pg_stat_wal_receiver.status ("streaming" when connected), null without a WAL receiver. */
      readonly walReceiverStatus: string | null;
      readonly senderHost: string | null;
      readonly senderPort: number | null;
    };

export type PromoteResult =
  | { readonly promoted: true; readonly tookMs: number }
  | { readonly promoted: false; readonly reason: 'not_in_recovery' | 'timed_out' };

/** One row of pg_stat_statements for the inventory's database (PostgreSQL 13+ column names). */
export interface StatementStat {
  readonly queryId: string | null;
  /** Normalised statement text ("<insufficient privilege>" without pg_read_all_stats). */
  readonly query: string;
  readonly calls: number;
  readonly totalTimeMs: number;
  readonly meanTimeMs: number;
  readonly rows: number;
}

export type TopStatements =
  | { readonly available: true; readonly statements: readonly StatementStat[] }
  | {
      readonly available: false;
      /** Why the view cannot be read: extension not installed, not preloaded, not on the search path. */
      readonly reason: string;
    };

/** Connections to the inventory's database from one client (application_name, else address) and role. */
export interface ClientConnections {
  /** application_name when the client sets one, else its address ("local" for a Unix socket). */
  readonly client: string;
  readonly user: string | null;
  readonly total: number;
  readonly active: number;
  readonly idle: number;
  readonly idleInTransaction: number;
}

/** A table from pg_stat_user_tables (runbook Scenario 2, step 3: missing indexes). */
export interface SeqScanStat {
  readonly schema: string;
  readonly table: string;
  readonly seqScan: number;
  readonly seqTupRead: number;
  /** null when the table has no index. */
  readonly idxScan: number | null;
  readonly liveTuples: number;
}

/** A table with its total size (heap + indexes + TOAST), runbook "Check table sizes". */
export interface TableSize {
  readonly schema: string;
  readonly table: string;
  readonly totalBytes: number;
  /** pg_size_pretty of totalBytes, as psql would show it. */
  readonly pretty: string;
}

/** A schema-qualified table name, as given (unquoted); `maintenanceStatement` quotes it. */
export interface QualifiedTable {
  readonly schema: string;
  readonly table: string;
}

/**
 * How the bot's login role may run VACUUM / ANALYZE / REINDEX on a table (PostgreSQL < 17 has no
 * MAINTAIN privilege: only the table's owner, a member with its privileges, or a superuser may):
 * `owner` — it has the owner's privileges already; `set-role` — it is a member of the (non-superuser)
 * owner role without inheriting it, and takes it with SET ROLE for the one statement; `none`.
 */
export type MaintenanceAccess = 'owner' | 'set-role' | 'none';

/** A table from pg_stat_user_tables with what maintenance planning and verification need. */
export interface TableMaintenanceStats {
  readonly schema: string;
  readonly table: string;
  readonly oid: number;
  readonly owner: string;
  readonly ownerIsSuperuser: boolean;
  readonly access: MaintenanceAccess;
  /** pg_table_size: heap + TOAST + free space/visibility maps. */
  readonly heapBytes: number;
  readonly indexBytes: number;
  readonly totalBytes: number;
  readonly liveTuples: number;
  readonly deadTuples: number;
  /** ISO-8601 UTC with microseconds, or null when never; exact, so "moved" can be compared. */
  readonly lastVacuum: string | null;
  readonly lastAutovacuum: string | null;
  readonly lastAnalyze: string | null;
  readonly lastAutoanalyze: string | null;
  readonly vacuumCount: number;
  readonly analyzeCount: number;
  readonly indexCount: number;
}

/** One index of a table (pg_index), for REINDEX planning and its before/after. */
export interface TableIndex {
  readonly name: string;
  readonly bytes: number;
  /** false for an index a failed CREATE/REINDEX CONCURRENTLY left behind (it is not used). */
  readonly valid: boolean;
  readonly ready: boolean;
  /** pg_relation_filenode: changes when the index is rebuilt, so it proves a REINDEX ran. */
  readonly filenode: number;
  readonly primary: boolean;
  readonly unique: boolean;
}

/** A database of the cluster (pg_database), seen from the inventory's database. */
export interface DatabaseInfo {
  readonly name: string;
  readonly exists: boolean;
  readonly owner: string | null;
  /** null when it does not exist or the bot's role may not connect to it (pg_database_size needs CONNECT). */
  readonly bytes: number | null;
}

export interface ServerNotice {
  readonly severity: string;
  readonly message: string;
}

export const MAINTENANCE_OPS = ['vacuum-analyze', 'analyze', 'reindex', 'reindex-concurrently'] as const;
export type MaintenanceOp = (typeof MAINTENANCE_OPS)[number];

export type MaintenanceResult =
  | {
      readonly done: true;
      /** The role the statement ran as (the login role, or the owner taken with SET ROLE). */
      readonly ranAs: string;
      readonly setRole: boolean;
      readonly statement: string;
      readonly tookMs: number;
      /**
       * What the server sent besides the result, in order: INFO (VACUUM VERBOSE's per-relation
       * report), NOTICE, WARNING. `severity` is as the server names it (English with lc_messages=C).
       */
      readonly notices: readonly ServerNotice[];
    }
  | {
      readonly done: false;
      /**
       * `not_found`: no such table; `not_permitted`: the bot's role may not act as its owner;
       * `skipped`: the server skipped the table with a WARNING (VACUUM/ANALYZE do that instead of
       * failing, e.g. "skipping … only table or database owner can vacuum it").
       */
      readonly reason: 'not_found' | 'not_permitted' | 'skipped';
      readonly detail: string;
    };

/** What PostgreSQL accepts as an identifier here: 1..63 characters, no NUL (the name is quoted). */
const PG_IDENTIFIER = /^[^\0]{1,63}$/u;

function checkIdentifier(value: string, what: string): void {
  if (!PG_IDENTIFIER.test(value))
    throw new InvalidArgumentError(`${what} must be 1..63 characters without NUL`);
}

/**
 * The maintenance statement for `op` on `table`, identifiers quoted with pg's escapeIdentifier
 * (so `a"b` becomes `"a""b"` and can never end the identifier). Pure; exported for the unit tests.
 */
export function maintenanceStatement(op: MaintenanceOp, table: QualifiedTable): string {
  checkIdentifier(table.schema, 'schema');
  checkIdentifier(table.table, 'table');
  const name = `${pg.escapeIdentifier(table.schema)}.${pg.escapeIdentifier(table.table)}`;
  switch (op) {
    case 'vacuum-analyze':
      // VERBOSE: the server reports per relation how many dead tuples it removed and how many it
      // could not yet (an older snapshot, a standby's hot_standby_feedback): that goes to the thread.
      return `VACUUM (VERBOSE, ANALYZE) ${name}`;
    case 'analyze':
      return `ANALYZE ${name}`;
    case 'reindex':
      return `REINDEX TABLE ${name}`;
    case 'reindex-concurrently':
      return `REINDEX TABLE CONCURRENTLY ${name}`;
  }
}

/** Every statement the adapter can send. Values are always bind parameters. */
const SQL = {
  isInRecovery: 'SELECT pg_is_in_recovery() AS in_recovery',

  connectionCount: `
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE state = 'active')::int AS active,
           count(*) FILTER (WHERE state = 'idle')::int AS idle,
           count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle_in_transaction,
           current_setting('max_connections')::int AS max_connections
      FROM pg_stat_activity
     WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,

  // Runbook Scenario 2, step 1, with the session identity needed for a safe terminate later.
  activeQueries: `
    SELECT pid, usename, datname, application_name, client_addr::text AS client_addr, state,
           wait_event_type, query,
           round(EXTRACT(EPOCH FROM clock_timestamp() - query_start) * 1000)::float8 AS age_ms,
           to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS backend_start,
           to_char(query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS query_start
      FROM pg_stat_activity
     WHERE state = 'active'
       AND backend_type = 'client backend'
       AND pid <> pg_backend_pid()
       AND query_start <= clock_timestamp() - make_interval(secs => $1::float8 / 1000)
     ORDER BY query_start
     LIMIT $2`,

  // Check and signal in one statement over one snapshot of pg_stat_activity: between what the
  // operator approved and the signal there is no round trip in which the pid could be reused.
  // CASE evaluates pg_terminate_backend only for the row that still matches.
  terminateBackend: `
    WITH target AS (
      SELECT a.pid, a.state, a.query, a.query_start, a.backend_start,
             a.pid = pg_backend_pid() AS is_self,
             ($2::timestamptz IS NULL OR a.query_start = $2::timestamptz)
               AND ($3::timestamptz IS NULL OR a.backend_start = $3::timestamptz)
               AND ($4::text IS NULL OR a.query = $4::text) AS same,
             ($5::boolean OR a.state = 'active') AS running
        FROM pg_stat_activity a
       WHERE a.pid = $1 AND a.backend_type = 'client backend'
    )
    SELECT is_self, same, running, state, query,
           to_char(query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS query_start,
           to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS backend_start,
           CASE WHEN same AND running AND NOT is_self THEN pg_terminate_backend(pid) END AS terminated
      FROM target`,

  // On a standby. Lag per LAB-NOTES: 0 when receive == replay, else time since the last replayed commit.
  replicaStatus: `
    SELECT pg_last_wal_receive_lsn()::text AS receive_lsn,
           pg_last_wal_replay_lsn()::text AS replay_lsn,
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
           END::float8 AS lag_seconds,
           pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS lag_bytes,
           pg_is_wal_replay_paused() AS replay_paused,
           to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_replay_at,
           r.status AS wal_receiver_status, r.sender_host, r.sender_port
      FROM (SELECT 1) AS one
      LEFT JOIN pg_stat_wal_receiver r ON true`,

  // On a primary.
  primaryStatus: `
    SELECT pg_current_wal_lsn()::text AS current_lsn,
           s.pid, s.usename, s.application_name, s.client_addr::text AS client_addr, s.state, s.sync_state,
           s.sent_lsn::text AS sent_lsn, s.replay_lsn::text AS replay_lsn,
           EXTRACT(EPOCH FROM s.replay_lag)::float8 AS replay_lag_seconds,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.replay_lsn)::float8 AS replay_lag_bytes
      FROM (SELECT 1) AS one
      LEFT JOIN pg_stat_replication s ON true
     ORDER BY s.application_name, s.pid`,

  // A real write (catalog rows, an xid, a commit) that leaves nothing behind: a standby refuses it
  // with 25006. Needs only the TEMP privilege every role has by default.
  probeWrite: 'CREATE TEMP TABLE qnwis_chatops_write_probe (at timestamptz) ON COMMIT DROP',

  // Read-only statistics for the diagnostics (runbook "Check slow queries", Scenario 2 step 3,
  // "Check table sizes"). Every value is a bind parameter; sizes and counters are cast to float8 so
  // they arrive as numbers, not bigint strings.
  connectionsByClient: `
    SELECT coalesce(nullif(application_name, ''), client_addr::text, 'local') AS client, usename,
           count(*)::int AS total,
           count(*) FILTER (WHERE state = 'active')::int AS active,
           count(*) FILTER (WHERE state = 'idle')::int AS idle,
           count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle_in_transaction
      FROM pg_stat_activity
     WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
     GROUP BY 1, 2
     ORDER BY 3 DESC, 1
     LIMIT $2`,
  serverVersionNum: "SELECT current_setting('server_version_num')::int AS version_num",
  statementsExtension: `
    SELECT e.extversion, n.nspname AS schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements'`,
  topStatements: `
    SELECT queryid::text AS query_id, query, calls::float8 AS calls,
           total_exec_time::float8 AS total_ms, mean_exec_time::float8 AS mean_ms, rows::float8 AS rows
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY mean_exec_time DESC
     LIMIT $1`,
  // PostgreSQL 12 and older name the timing columns total_time / mean_time.
  topStatementsLegacy: `
    SELECT queryid::text AS query_id, query, calls::float8 AS calls,
           total_time::float8 AS total_ms, mean_time::float8 AS mean_ms, rows::float8 AS rows
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY mean_time DESC
     LIMIT $1`,
  seqScans: `
    SELECT schemaname, relname, seq_scan::float8 AS seq_scan, seq_tup_read::float8 AS seq_tup_read,
           idx_scan::float8 AS idx_scan, n_live_tup::float8 AS n_live_tup
      FROM pg_stat_user_tables
     WHERE seq_scan > $1
     ORDER BY seq_scan DESC
     LIMIT $2`,
  // pg_tables is pg_class with relkind r/p; going by oid avoids building a qualified name from text.
  tableSizes: `
    SELECT n.nspname AS schemaname, c.relname AS tablename,
           pg_total_relation_size(c.oid)::float8 AS total_bytes,
           pg_size_pretty(pg_total_relation_size(c.oid)) AS pretty
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname = $1
     ORDER BY pg_total_relation_size(c.oid) DESC
     LIMIT $2`,

  // Table maintenance (planning and verification). pg_stat_user_tables covers every user schema;
  // sizes take ACCESS SHARE locks, so callers run these under a short lock_timeout.
  userTables: `
    SELECT s.schemaname, s.relname, s.relid::int8::float8 AS oid,
           pg_get_userbyid(c.relowner) AS owner, r.rolsuper AS owner_super,
           pg_has_role(c.relowner, 'USAGE') AS has_owner_privileges,
           pg_has_role(c.relowner, 'MEMBER') AS owner_member,
           pg_table_size(c.oid)::float8 AS heap_bytes, pg_indexes_size(c.oid)::float8 AS index_bytes,
           pg_total_relation_size(c.oid)::float8 AS total_bytes,
           s.n_live_tup::float8 AS n_live_tup, s.n_dead_tup::float8 AS n_dead_tup,
           to_char(s.last_vacuum AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_vacuum,
           to_char(s.last_autovacuum AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_autovacuum,
           to_char(s.last_analyze AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_analyze,
           to_char(s.last_autoanalyze AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_autoanalyze,
           s.vacuum_count::float8 AS vacuum_count, s.analyze_count::float8 AS analyze_count,
           (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)::int AS index_count
      FROM pg_stat_user_tables s
      JOIN pg_class c ON c.oid = s.relid
      JOIN pg_roles r ON r.oid = c.relowner
     WHERE ($1::text IS NULL OR s.schemaname = $1::text) AND ($2::text IS NULL OR s.relname = $2::text)
     ORDER BY s.schemaname, s.relname
     LIMIT $3`,
  tableIndexes: `
    SELECT ci.relname AS name, pg_relation_size(ci.oid)::float8 AS bytes, i.indisvalid AS valid,
           i.indisready AS ready, coalesce(pg_relation_filenode(ci.oid)::int8, 0)::float8 AS filenode,
           i.indisprimary AS is_primary, i.indisunique AS is_unique
      FROM pg_index i
      JOIN pg_class ci ON ci.oid = i.indexrelid
      JOIN pg_class ct ON ct.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = ct.relnamespace
     WHERE n.nspname = $1 AND ct.relname = $2
     ORDER BY ci.relname`,
  // The same access rule as userTables, for one table, on the maintenance connection itself.
  maintenanceAccess: `
    SELECT pg_get_userbyid(c.relowner) AS owner, r.rolsuper AS owner_super,
           pg_has_role(c.relowner, 'USAGE') AS has_owner_privileges,
           pg_has_role(c.relowner, 'MEMBER') AS owner_member
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_roles r ON r.oid = c.relowner
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'm')`,
  currentUser: 'SELECT current_user AS name',
  databaseInfo: `
    SELECT pg_get_userbyid(d.datdba) AS owner,
           CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid)::float8 END AS bytes
      FROM pg_database d
     WHERE d.datname = $1`,

  begin: 'BEGIN',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
  setLocalStatementTimeout: "SELECT set_config('statement_timeout', $1::text, true)",
  setLocalLockTimeout: "SELECT set_config('lock_timeout', $1::text, true)",
  promote: 'SELECT pg_promote(true, $1::int) AS promoted',
} as const;

type SqlName = keyof typeof SQL;

const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
const CONNECTION_MESSAGES = [
  'timeout expired',
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
];

/**
 * Maps anything pg throws to one of the typed database errors. Exported for the unit tests and for
 * callers that use pg directly (the store).
 */
export function classifyPgError(
  err: unknown,
  host: string,
  timeouts: { statementMs: number; clientMs: number },
): QnwisError {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (message === 'Query read timeout')
    return new DatabaseTimeoutError(host, timeouts.clientMs, 'client', { cause: err });
  if (code === '57014' && message.includes('statement timeout')) {
    return new DatabaseTimeoutError(host, timeouts.statementMs, 'statement', { cause: err });
  }
  if (code === '25006') return new DatabaseReadOnlyError(host, { cause: err });
  if (
    code !== undefined &&
    (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')
  ) {
    return new DatabaseUnreachableError(host, `${message} (SQLSTATE ${code})`, { cause: err });
  }
  if (
    (code !== undefined && CONNECTION_ERRNOS.has(code)) ||
    CONNECTION_MESSAGES.some((m) => message.includes(m))
  ) {
    return new DatabaseUnreachableError(
      host,
      code && !message.includes(code) ? `${message} (${code})` : message,
      {
        cause: err,
      },
    );
  }
  const sqlState = code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  return new DatabaseError(host, message, sqlState, { cause: err });
}

/** The QNWIS database on every database host of the fleet. */
export class FleetDatabase {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly db: FleetDatabaseOptions['database'];
  private readonly password: string | undefined;
  private readonly statementTimeoutMs: number;
  private readonly queryTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private readonly maintenanceStatementTimeoutMs: number;
  private readonly maintenanceLockTimeoutMs: number;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: FleetDatabaseOptions) {
    this.db = opts.database;
    this.password = opts.password;
    this.statementTimeoutMs = positive(opts.statementTimeoutMs ?? 5_000, 'statementTimeoutMs');
    this.queryTimeoutMs = positive(opts.queryTimeoutMs ?? this.statementTimeoutMs + 2_000, 'queryTimeoutMs');
    this.connectTimeoutMs = positive(opts.connectTimeoutMs ?? 3_000, 'connectTimeoutMs');
    this.maxConnections = positive(opts.maxConnectionsPerHost ?? 2, 'maxConnectionsPerHost');
    this.idleTimeoutMs = positive(opts.idleTimeoutMs ?? 30_000, 'idleTimeoutMs');
    this.maintenanceStatementTimeoutMs = positive(
      opts.maintenanceStatementTimeoutMs ?? 3_600_000,
      'maintenanceStatementTimeoutMs',
    );
    this.maintenanceLockTimeoutMs = positive(
      opts.maintenanceLockTimeoutMs ?? 30_000,
      'maintenanceLockTimeoutMs',
    );
    this.log = (opts.logger ?? silentLogger).child({ component: 'db' });
  }

  /** Runbook "Check connection count", for `inventory.database.name`, to compare with the app's pool size. */
  async connectionCount(host: Host): Promise<ConnectionCount> {
    const [row] = await this.query<{
      total: number;
      active: number;
      idle: number;
      idle_in_transaction: number;
      max_connections: number;
    }>(host, 'connectionCount', [this.db.name]);
    if (!row) throw new DatabaseError(host.name, 'connection count returned no row', undefined);
    return {
      database: this.db.name,
      total: row.total,
      active: row.active,
      idle: row.idle,
      idleInTransaction: row.idle_in_transaction,
      maxConnections: row.max_connections,
      appPoolSize: this.db.appPoolSize,
    };
  }

  /**
   * Runbook Scenario 2, step 1: statements running for at least `olderThanMs` (default 5000), oldest
   * first, in every database of the host, without the bot's own backend.
   */
  async activeQueries(
    host: Host,
    opts: { olderThanMs?: number; limit?: number } = {},
  ): Promise<ActiveQuery[]> {
    const olderThanMs = opts.olderThanMs ?? 5_000;
    const limit = opts.limit ?? 50;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0)
      throw new InvalidArgumentError('olderThanMs must be >= 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new InvalidArgumentError('limit must be 1..1000');
    const rows = await this.query<{
      pid: number;
      usename: string | null;
      datname: string | null;
      application_name: string | null;
      client_addr: string | null;
      state: string;
      wait_event_type: string | null;
      query: string;
      age_ms: number;
      backend_start: string;
      query_start: string;
    }>(host, 'activeQueries', [olderThanMs, limit]);
    return rows.map((r) => ({
      pid: r.pid,
      user: r.usename,
      database: r.datname,
      applicationName: r.application_name || null,
      clientAddr: r.client_addr,
      state: r.state,
      waitEventType: r.wait_event_type,
      ageMs: r.age_ms,
      query: r.query,
      backendStart: r.backend_start,
      queryStart: r.query_start,
    }));
  }

  /**
   * Runbook Scenario 2, step 2: pg_terminate_backend(pid). With `expect`, the backend is signalled
   * only if, in the same statement, it is still the session that started at `backendStart`, running
   * the statement that started at `queryStart` with text `query` (each given field must match) and
   * that statement is still active — otherwise `{ terminated: false, reason }`. An approval that
   * waited minutes must not kill whatever reused the pid or the next query of the same session.
   * (What remains is the microseconds between the snapshot and the signal inside one statement.)
   */
  async terminateBackend(host: Host, pid: number, expect?: TerminateExpectation): Promise<TerminateResult> {
    if (!Number.isInteger(pid) || pid <= 0 || pid > 2 ** 31 - 1)
      throw new InvalidArgumentError('pid must be a positive integer');
    for (const [field, value] of [
      ['queryStart', expect?.queryStart],
      ['backendStart', expect?.backendStart],
    ] as const) {
      if (value !== undefined && Number.isNaN(Date.parse(value))) {
        throw new InvalidArgumentError(`expect.${field} is not a timestamp`);
      }
    }
    const checkRunning = expect !== undefined;
    let rows: {
      is_self: boolean;
      same: boolean;
      running: boolean;
      state: string | null;
      query: string | null;
      query_start: string | null;
      backend_start: string | null;
      terminated: boolean | null;
    }[];
    try {
      rows = await this.query(host, 'terminateBackend', [
        pid,
        expect?.queryStart ?? null,
        expect?.backendStart ?? null,
        expect?.query ?? null,
        !checkRunning,
      ]);
    } catch (err) {
      // pg_signal_backend may not signal a superuser's backend.
      if (err instanceof DatabaseError && err.sqlState === '42501')
        return { terminated: false, pid, reason: 'not_permitted' };
      throw err;
    }
    const row = rows[0];
    if (!row) return { terminated: false, pid, reason: 'not_found' };
    const current: BackendSnapshot = {
      state: row.state,
      query: row.query,
      queryStart: row.query_start,
      backendStart: row.backend_start,
    };
    if (row.is_self) return { terminated: false, pid, reason: 'own_backend', current };
    if (!row.same) return { terminated: false, pid, reason: 'changed', current };
    if (!row.running) return { terminated: false, pid, reason: 'finished', current };
    if (row.terminated !== true) return { terminated: false, pid, reason: 'signal_failed', current };
    this.log.info({ host: host.name, pid }, 'terminated backend');
    return { terminated: true, pid };
  }

  /** Runbook "Check replication lag", done right: which side we are on first, then the side's view. */
  async replicationStatus(host: Host): Promise<ReplicationStatus> {
    if (await this.isInRecovery(host)) {
      const [r] = await this.query<{
        receive_lsn: string | null;
        replay_lsn: string | null;
        lag_seconds: number | null;
        lag_bytes: number | null;
        replay_paused: boolean;
        last_replay_at: string | null;
        wal_receiver_status: string | null;
        sender_host: string | null;
        sender_port: number | null;
      }>(host, 'replicaStatus');
      if (!r) throw new DatabaseError(host.name, 'replica status returned no row', undefined);
      return {
        role: 'replica',
        receiveLsn: r.receive_lsn,
        replayLsn: r.replay_lsn,
        lagSeconds: r.lag_seconds === null ? null : Math.max(0, r.lag_seconds),
        lagBytes: r.lag_bytes === null ? null : Math.max(0, r.lag_bytes),
        replayPaused: r.replay_paused,
        lastReplayAt: r.last_replay_at,
        walReceiverStatus: r.wal_receiver_status,
        senderHost: r.sender_host,
        senderPort: r.sender_port,
      };
    }
    const rows = await this.query<{
      current_lsn: string;
      pid: number | null;
      usename: string | null;
      application_name: string | null;
      client_addr: string | null;
      state: string | null;
      sync_state: string | null;
      sent_lsn: string | null;
      replay_lsn: string | null;
      replay_lag_seconds: number | null;
      replay_lag_bytes: number | null;
    }>(host, 'primaryStatus');
    const first = rows[0];
    if (!first) throw new DatabaseError(host.name, 'primary status returned no row', undefined);
    return {
      role: 'primary',
      currentLsn: first.current_lsn,
      standbys: rows
        .filter((r): r is typeof r & { pid: number } => r.pid !== null)
        .map((r) => ({
          pid: r.pid,
          user: r.usename,
          applicationName: r.application_name,
          clientAddr: r.client_addr,
          state: r.state,
          syncState: r.sync_state,
          sentLsn: r.sent_lsn,
          replayLsn: r.replay_lsn,
          replayLagSeconds: r.replay_lag_seconds,
          replayLagBytes: r.replay_lag_bytes,
        })),
    };
  }

  async isInRecovery(host: Host): Promise<boolean> {
    const [row] = await this.query<{ in_recovery: boolean }>(host, 'isInRecovery');
    if (!row) throw new DatabaseError(host.name, 'pg_is_in_recovery() returned no row', undefined);
    return row.in_recovery;
  }

  /**
   * Runbook "Check connection count", per client: connections to `inventory.database.name` grouped by
   * application_name (else client address) and role, largest first, without the bot's own backend.
   * Each app server's pool is compared with `app_pool_size` one by one.
   */
  async connectionsByClient(host: Host, opts: { limit?: number } = {}): Promise<ClientConnections[]> {
    const limit = opts.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new InvalidArgumentError('limit must be 1..1000');
    const rows = await this.query<{
      client: string;
      usename: string | null;
      total: number;
      active: number;
      idle: number;
      idle_in_transaction: number;
    }>(host, 'connectionsByClient', [this.db.name, limit]);
    return rows.map((r) => ({
      client: r.client,
      user: r.usename,
      total: r.total,
      active: r.active,
      idle: r.idle,
      idleInTransaction: r.idle_in_transaction,
    }));
  }

  /**
   * Runbook "Check slow queries": the `limit` statements of the inventory's database with the
   * highest mean execution time, from pg_stat_statements. When the view cannot be read (extension not
   * installed, not in shared_preload_libraries, or its schema not on the search path) the answer is
   * `available: false` with the reason, not an error: the check is optional on a server.
   */
  async topStatements(host: Host, opts: { limit?: number } = {}): Promise<TopStatements> {
    const limit = opts.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new InvalidArgumentError('limit must be 1..100');
    const [ext] = await this.query<{ extversion: string; schema: string }>(host, 'statementsExtension');
    if (!ext) {
      return {
        available: false,
        reason: 'the pg_stat_statements extension is not installed in this database',
      };
    }
    const [ver] = await this.query<{ version_num: number }>(host, 'serverVersionNum');
    const name: SqlName = (ver?.version_num ?? 0) >= 130_000 ? 'topStatements' : 'topStatementsLegacy';
    let rows: {
      query_id: string | null;
      query: string | null;
      calls: number;
      total_ms: number;
      mean_ms: number;
      rows: number;
    }[];
    try {
      rows = await this.query(host, name, [limit]);
    } catch (err) {
      // 55000: "pg_stat_statements must be loaded via shared_preload_libraries"; 42P01: the
      // extension's schema is not on the role's search_path.
      if (err instanceof DatabaseError && (err.sqlState === '55000' || err.sqlState === '42P01')) {
        return { available: false, reason: err.message };
      }
      throw err;
    }
    return {
      available: true,
      statements: rows.map((r) => ({
        queryId: r.query_id,
        query: r.query ?? '',
        calls: r.calls,
        totalTimeMs: r.total_ms,
        meanTimeMs: r.mean_ms,
        rows: r.rows,
      })),
    };
  }

  /** Runbook Scenario 2, step 3: tables with more than `minSeqScans` sequential scans, most first. */
  async seqScans(host: Host, opts: { minSeqScans?: number; limit?: number } = {}): Promise<SeqScanStat[]> {
    const minSeqScans = opts.minSeqScans ?? 1000;
    const limit = opts.limit ?? 10;
    if (!Number.isInteger(minSeqScans) || minSeqScans < 0)
      throw new InvalidArgumentError('minSeqScans must be an integer >= 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new InvalidArgumentError('limit must be 1..100');
    const rows = await this.query<{
      schemaname: string;
      relname: string;
      seq_scan: number;
      seq_tup_read: number;
      idx_scan: number | null;
      n_live_tup: number;
    }>(host, 'seqScans', [minSeqScans, limit]);
    return rows.map((r) => ({
      schema: r.schemaname,
      table: r.relname,
      seqScan: r.seq_scan,
      seqTupRead: r.seq_tup_read,
      idxScan: r.idx_scan,
      liveTuples: r.n_live_tup,
    }));
  }

  /**
   * Runbook "Check table sizes": the `limit` largest tables of `schema` (default public).
   * pg_total_relation_size takes an ACCESS SHARE lock on each table, so a session holding ACCESS
   * EXCLUSIVE (a long migration, LOCK TABLE) would block it until statement_timeout; a short
   * lock_timeout (default 1000 ms, this transaction only) makes that a quick `DatabaseError` with
   * SQLSTATE 55P03 instead.
   */
  async tableSizes(
    host: Host,
    opts: { schema?: string; limit?: number; lockTimeoutMs?: number } = {},
  ): Promise<TableSize[]> {
    const schema = opts.schema ?? 'public';
    const limit = opts.limit ?? 20;
    const lockTimeoutMs = opts.lockTimeoutMs ?? 1_000;
    if (schema.length === 0 || schema.length > 63 || schema.includes('\0'))
      throw new InvalidArgumentError('schema must be 1..63 characters');
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new InvalidArgumentError('limit must be 1..100');
    type Row = { schemaname: string; tablename: string; total_bytes: number; pretty: string };
    const rows = await this.withLockTimeout(host, lockTimeoutMs, (run) =>
      run<Row>('tableSizes', [schema, limit]),
    );
    return rows.map((r) => ({
      schema: r.schemaname,
      table: r.tablename,
      totalBytes: r.total_bytes,
      pretty: r.pretty,
    }));
  }

  /**
   * Proves the host accepts writes (after a failover, before repointing the app): creates and drops a
   * temporary table. Throws `DatabaseReadOnlyError` on a standby.
   */
  async probeWrite(host: Host): Promise<{ writable: true; latencyMs: number }> {
    const started = performance.now();
    await this.query(host, 'probeWrite');
    return { writable: true, latencyMs: Math.round(performance.now() - started) };
  }

  /**
   * Disaster recovery step 1: `SELECT pg_promote(true, waitSeconds)` on a standby; resolves when
   * the server has left recovery (promoted) or `waitSeconds` passed (timed_out — it may still
   * finish). A host that is not in recovery is left alone (`not_in_recovery`), so a repeated
   * failover job is harmless. The statement timeout is raised for this one transaction only.
   */
  async promote(host: Host, opts: { waitSeconds?: number } = {}): Promise<PromoteResult> {
    const waitSeconds = opts.waitSeconds ?? 60;
    if (!Number.isInteger(waitSeconds) || waitSeconds < 1 || waitSeconds > 3600) {
      throw new InvalidArgumentError('waitSeconds must be an integer 1..3600');
    }
    if (!(await this.isInRecovery(host))) return { promoted: false, reason: 'not_in_recovery' };
    const limitMs = waitSeconds * 1000 + 5_000;
    const started = performance.now();
    let promoted: boolean;
    try {
      promoted = await this.withClient(host, limitMs + 2_000, async (run) => {
        await run('begin');
        try {
          await run('setLocalStatementTimeout', [`${limitMs}ms`]);
          const rows = await run<{ promoted: boolean }>('promote', [waitSeconds]);
          await run('commit');
          return rows[0]?.promoted === true;
        } catch (err) {
          await run('rollback').catch(() => {});
          throw err;
        }
      });
    } catch (err) {
      // Someone else promoted it between our check and pg_promote: "recovery is not in progress".
      if (err instanceof DatabaseError && err.sqlState === '55000')
        return { promoted: false, reason: 'not_in_recovery' };
      throw err;
    }
    if (!promoted) return { promoted: false, reason: 'timed_out' };
    const tookMs = Math.round(performance.now() - started);
    this.log.warn({ host: host.name, tookMs }, 'promoted standby to primary');
    return { promoted: true, tookMs };
  }

  /** `server_version_num` of the host (150020 for 15.20): decides whether REINDEX … CONCURRENTLY exists (12+). */
  async serverVersionNum(host: Host): Promise<number> {
    const [row] = await this.query<{ version_num: number }>(host, 'serverVersionNum');
    if (!row) throw new DatabaseError(host.name, 'server_version_num returned no row', undefined);
    return row.version_num;
  }

  /** A database of the host's cluster by name (owner, size when the bot's role may connect to it). */
  async databaseInfo(host: Host, name: string): Promise<DatabaseInfo> {
    checkIdentifier(name, 'database');
    const [row] = await this.query<{ owner: string; bytes: number | null }>(host, 'databaseInfo', [name]);
    if (!row) return { name, exists: false, owner: null, bytes: null };
    return { name, exists: true, owner: row.owner, bytes: row.bytes };
  }

  /**
   * User tables of the inventory's database (pg_stat_user_tables: every schema but the system
   * ones), optionally of one schema and/or with one name, with sizes, dead tuples, the last manual
   * and automatic VACUUM/ANALYZE and whether the bot's role may maintain them (`access`). Sizes take
   * ACCESS SHARE locks, so a short lock_timeout (default 1000 ms, this transaction only) makes a
   * table held exclusively (LOCK TABLE, a migration) a quick `DatabaseError` 55P03 instead of a wait.
   */
  async userTables(
    host: Host,
    opts: { schema?: string; table?: string; limit?: number; lockTimeoutMs?: number } = {},
  ): Promise<TableMaintenanceStats[]> {
    const limit = opts.limit ?? 500;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new InvalidArgumentError('limit must be 1..1000');
    if (opts.schema !== undefined) checkIdentifier(opts.schema, 'schema');
    if (opts.table !== undefined) checkIdentifier(opts.table, 'table');
    type Row = {
      schemaname: string;
      relname: string;
      oid: number;
      owner: string;
      owner_super: boolean;
      has_owner_privileges: boolean;
      owner_member: boolean;
      heap_bytes: number;
      index_bytes: number;
      total_bytes: number;
      n_live_tup: number;
      n_dead_tup: number;
      last_vacuum: string | null;
      last_autovacuum: string | null;
      last_analyze: string | null;
      last_autoanalyze: string | null;
      vacuum_count: number;
      analyze_count: number;
      index_count: number;
    };
    const rows = await this.withLockTimeout(host, opts.lockTimeoutMs ?? 1_000, (run) =>
      run<Row>('userTables', [opts.schema ?? null, opts.table ?? null, limit]),
    );
    return rows.map((r) => ({
      schema: r.schemaname,
      table: r.relname,
      oid: r.oid,
      owner: r.owner,
      ownerIsSuperuser: r.owner_super,
      access: maintenanceAccess(r),
      heapBytes: r.heap_bytes,
      indexBytes: r.index_bytes,
      totalBytes: r.total_bytes,
      liveTuples: r.n_live_tup,
      deadTuples: r.n_dead_tup,
      lastVacuum: r.last_vacuum,
      lastAutovacuum: r.last_autovacuum,
      lastAnalyze: r.last_analyze,
      lastAutoanalyze: r.last_autoanalyze,
      vacuumCount: r.vacuum_count,
      analyzeCount: r.analyze_count,
      indexCount: r.index_count,
    }));
  }

  /** The indexes of one table, by name, with size, validity and filenode (under a short lock_timeout). */
  async tableIndexes(
    host: Host,
    table: QualifiedTable,
    opts: { lockTimeoutMs?: number } = {},
  ): Promise<TableIndex[]> {
    checkIdentifier(table.schema, 'schema');
    checkIdentifier(table.table, 'table');
    type Row = {
      name: string;
      bytes: number;
      valid: boolean;
      ready: boolean;
      filenode: number;
      is_primary: boolean;
      is_unique: boolean;
    };
    const rows = await this.withLockTimeout(host, opts.lockTimeoutMs ?? 1_000, (run) =>
      run<Row>('tableIndexes', [table.schema, table.table]),
    );
    return rows.map((r) => ({
      name: r.name,
      bytes: r.bytes,
      valid: r.valid,
      ready: r.ready,
      filenode: r.filenode,
      primary: r.is_primary,
      unique: r.is_unique,
    }));
  }

  /**
   * Runbook "Performance Tuning": one VACUUM (VERBOSE, ANALYZE), ANALYZE or REINDEX TABLE [CONCURRENTLY] of
   * `table`, on a connection of its own rather than the pool's, because:
   * - VACUUM and REINDEX CONCURRENTLY cannot run inside a transaction block, so the statement is
   *   sent alone (a query string of several statements is one implicit transaction);
   * - it needs a long statement_timeout (default `maintenanceStatementTimeoutMs`) and its own
   *   lock_timeout (default `maintenanceLockTimeoutMs`; 0 = wait), set as startup parameters, where
   *   the pool's connections keep their short ones;
   * - a statement that runs for an hour must not hold one of the pool's few connections;
   * - when the bot's role reaches the table's owner only through a NOINHERIT membership
   *   (`access: 'set-role'`), it takes the owner's role with SET ROLE on this connection alone,
   *   which is closed right after: no pooled connection ever acts as the owner. A superuser owner
   *   is never taken.
   * Expected refusals are results: no such table, not permitted, or skipped by the server with a
   * WARNING ("skipping …": VACUUM and ANALYZE skip a table they may not process instead of
   * failing). Timeouts throw (`DatabaseError` 55P03 for lock_timeout, `DatabaseTimeoutError` for
   * statement_timeout), as do connection failures. A running statement is not cancelled by the caller.
   */
  async maintain(
    host: Host,
    op: MaintenanceOp,
    table: QualifiedTable,
    opts: { statementTimeoutMs?: number; lockTimeoutMs?: number } = {},
  ): Promise<MaintenanceResult> {
    if (!(MAINTENANCE_OPS as readonly string[]).includes(op))
      throw new InvalidArgumentError(`unknown maintenance operation ${String(op)}`);
    const statement = maintenanceStatement(op, table);
    const statementTimeoutMs = opts.statementTimeoutMs ?? this.maintenanceStatementTimeoutMs;
    const lockTimeoutMs = opts.lockTimeoutMs ?? this.maintenanceLockTimeoutMs;
    if (!Number.isInteger(statementTimeoutMs) || statementTimeoutMs < 1 || statementTimeoutMs > 86_400_000)
      throw new InvalidArgumentError('statementTimeoutMs must be 1..86400000');
    if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0 || lockTimeoutMs > statementTimeoutMs)
      throw new InvalidArgumentError('lockTimeoutMs must be 0..statementTimeoutMs');
    this.assertDatabaseHost(host);
    const name = `${table.schema}.${table.table}`;
    const clientMs = statementTimeoutMs + 5_000;
    const timeouts = { statementMs: statementTimeoutMs, clientMs };
    const client = new pg.Client({
      host: host.address,
      port: this.db.port,
      database: this.db.name,
      user: this.db.user,
      password: this.password,
      application_name: 'qnwis-chatops-maintenance',
      statement_timeout: statementTimeoutMs,
      lock_timeout: lockTimeoutMs,
      connectionTimeoutMillis: this.connectTimeoutMs,
      keepAlive: true,
    });
    const notices: ServerNotice[] = [];
    client.on('notice', (n) => notices.push({ severity: n.severity ?? '', message: n.message ?? '' }));
    // A dropped connection also emits 'error' on the client; the query's own rejection reports it.
    client.on('error', (err) =>
      this.log.warn({ host: host.name, err: { message: err.message } }, 'maintenance connection failed'),
    );
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw classifyPgError(err, host.name, timeouts);
    }
    const run = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> => {
      try {
        const config: pg.QueryConfig & { query_timeout: number } = { text, values, query_timeout: clientMs };
        return (await client.query<R>(config)).rows;
      } catch (err) {
        throw classifyPgError(err, host.name, timeouts);
      }
    };
    try {
      const [access] = await run<AccessRow & { owner: string }>(SQL.maintenanceAccess, [
        table.schema,
        table.table,
      ]);
      if (!access) return { done: false, reason: 'not_found', detail: `no table ${name} in ${this.db.name}` };
      let ranAs: string;
      let setRole = false;
      switch (maintenanceAccess(access)) {
        case 'owner': {
          const [me] = await run<{ name: string }>(SQL.currentUser);
          ranAs = me?.name ?? this.db.user;
          break;
        }
        case 'set-role':
          await run(`SET ROLE ${pg.escapeIdentifier(access.owner)}`);
          ranAs = access.owner;
          setRole = true;
          break;
        case 'none':
          return {
            done: false,
            reason: 'not_permitted',
            detail:
              `${name} belongs to ${access.owner}${access.owner_super ? ', a superuser' : ''}; ` +
              `${this.db.user} may not act as its owner, which ${statement.split(' ')[0]} needs`,
          };
      }
      const first = notices.length;
      const started = performance.now();
      await run(statement);
      const tookMs = Math.round(performance.now() - started);
      const sent = notices.slice(first);
      const skipped = sent.find((n) => /^skipping\b/i.test(n.message));
      if (skipped !== undefined) return { done: false, reason: 'skipped', detail: skipped.message };
      this.log.info({ host: host.name, statement, ranAs, setRole, tookMs }, 'maintenance statement done');
      return { done: true, ranAs, setRole, statement, tookMs, notices: sent };
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Closes every pool; the adapter cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  }

  // -------------------------------------------------------------------------------------------

  private async query<R extends pg.QueryResultRow>(
    host: Host,
    name: SqlName,
    values: unknown[] = [],
  ): Promise<R[]> {
    return this.withClient(host, this.queryTimeoutMs, (run) => run<R>(name, values));
  }

  /**
   * Checks out one connection, hands `fn` a runner for named statements, and releases it — destroying
   * it when a query timed out on our side (the server may still be busy with it) or the socket failed.
   */
  private async withClient<T>(
    host: Host,
    clientTimeoutMs: number,
    fn: (run: <R extends pg.QueryResultRow>(name: SqlName, values?: unknown[]) => Promise<R[]>) => Promise<T>,
  ): Promise<T> {
    const pool = this.pool(host);
    const timeouts = { statementMs: this.statementTimeoutMs, clientMs: clientTimeoutMs };
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw classifyPgError(err, host.name, timeouts);
    }
    let broken: Error | undefined;
    const run = async <R extends pg.QueryResultRow>(name: SqlName, values: unknown[] = []): Promise<R[]> => {
      try {
        // pg honours a per-query `query_timeout` (lib/client.js) that @types/pg does not declare.
        const config: pg.QueryConfig & { query_timeout: number } = {
          text: SQL[name],
          values,
          query_timeout: clientTimeoutMs,
        };
        const res = await client.query<R>(config);
        return res.rows;
      } catch (err) {
        const typed = classifyPgError(err, host.name, timeouts);
        if (
          typed instanceof DatabaseUnreachableError ||
          (typed instanceof DatabaseTimeoutError && typed.phase === 'client')
        ) {
          broken = typed;
        }
        throw typed;
      }
    };
    try {
      return await fn(run);
    } finally {
      client.release(broken);
    }
  }

  /** Runs `fn` in a transaction whose lock_timeout is `lockTimeoutMs` (1..statement timeout). */
  private async withLockTimeout<T>(
    host: Host,
    lockTimeoutMs: number,
    fn: (run: <R extends pg.QueryResultRow>(name: SqlName, values?: unknown[]) => Promise<R[]>) => Promise<T>,
  ): Promise<T> {
    if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > this.statementTimeoutMs)
      throw new InvalidArgumentError('lockTimeoutMs must be 1..statementTimeoutMs');
    return this.withClient(host, this.queryTimeoutMs, async (run) => {
      await run('begin');
      try {
        await run('setLocalLockTimeout', [`${lockTimeoutMs}ms`]);
        const result = await fn(run);
        await run('commit');
        return result;
      } catch (err) {
        await run('rollback').catch(() => {});
        throw err;
      }
    });
  }

  private assertDatabaseHost(host: Host): void {
    if (this.closed) throw new DatabaseError(host.name, 'the database adapter is closed', undefined);
    if (!host.roles.includes('db-primary') && !host.roles.includes('db-replica')) {
      throw new UnknownHostError(host.name, 'is not a database host');
    }
  }

  private pool(host: Host): pg.Pool {
    this.assertDatabaseHost(host);
    let pool = this.pools.get(host.name);
    if (pool) return pool;
    pool = new pg.Pool({
      host: host.address,
      port: this.db.port,
      database: this.db.name,
      user: this.db.user,
      password: this.password,
      application_name: 'qnwis-chatops',
      statement_timeout: this.statementTimeoutMs,
      // A transaction left open by a crashed job must not hold locks or a snapshot.
      idle_in_transaction_session_timeout: Math.max(this.statementTimeoutMs * 2, 10_000),
      query_timeout: this.queryTimeoutMs,
      connectionTimeoutMillis: this.connectTimeoutMs,
      max: this.maxConnections,
      idleTimeoutMillis: this.idleTimeoutMs,
      keepAlive: true,
    });
    // An idle client whose backend is terminated (or whose server restarts) emits 'error' on the
    // pool; without a listener that would crash the process (LAB-NOTES). The pool drops the client.
    pool.on('error', (err) => {
      this.log.warn(
        { host: host.name, err: { message: err.message, code: (err as { code?: string }).code } },
        'idle database connection failed',
      );
    });
    this.pools.set(host.name, pool);
    return pool;
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
}

interface AccessRow {
  readonly owner_super: boolean;
  readonly has_owner_privileges: boolean;
  readonly owner_member: boolean;
}

/** See `MaintenanceAccess`: a superuser owner is never taken with SET ROLE. */
function maintenanceAccess(r: AccessRow): MaintenanceAccess {
  if (r.has_owner_privileges) return 'owner';
  if (r.owner_member && !r.owner_super) return 'set-role';
  return 'none';
}
