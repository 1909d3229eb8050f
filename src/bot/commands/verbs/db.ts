/**
 * `/qnwis db …` (runbook "Database Operations", Scenario 2): each view is one read-only diagnostic
 * on the primary (`lag` on the primary reports every replica as well).
 */
import { hostsWithRole, type Inventory } from '../../../inventory.js';
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import type { CommandEnv, DiagnosticRequest } from '../env.js';
import type { DbView } from '../usage.js';
import { diagnose } from './diagnose.js';

export interface DbViewSpec {
  readonly title: string;
  readonly runbook: string;
  readonly diagnostic: string;
  /** Input for the diagnostic, when the view needs other than its defaults. */
  readonly input?: unknown;
}

export const DB_VIEW_SPECS: Readonly<Record<DbView, DbViewSpec>> = {
  connections: {
    title: 'Database · connections',
    runbook: "SELECT count(*) FROM pg_stat_activity WHERE datname = 'qnwis_prod' (vs the app's pool)",
    diagnostic: 'pg-connections',
  },
  activity: {
    title: 'Database · running statements',
    runbook: "pg_stat_activity WHERE state = 'active' (every running statement)",
    diagnostic: 'pg-active-queries',
    input: { minAgeMs: 0 },
  },
  slow: {
    title: 'Database · statements running over 5 s',
    runbook: "Scenario 2, step 1: pg_stat_activity WHERE state = 'active' AND now() - query_start > 5 s",
    diagnostic: 'pg-active-queries',
  },
  statements: {
    title: 'Database · slowest statements (pg_stat_statements)',
    runbook:
      'SELECT query, calls, total_time, mean_time FROM pg_stat_statements ORDER BY mean_time DESC LIMIT 10',
    diagnostic: 'pg-statements',
  },
  tables: {
    title: 'Database · table sizes',
    runbook: 'pg_total_relation_size of the public tables, largest first (LIMIT 20)',
    diagnostic: 'pg-table-sizes',
  },
  seqscans: {
    title: 'Database · sequential scans',
    runbook: 'Scenario 2, step 3: pg_stat_user_tables with high seq_scan (missing indexes)',
    diagnostic: 'pg-seqscans',
  },
  lag: {
    title: 'Database · replication',
    runbook:
      'pg_is_in_recovery(); replay lag on the replica (0 when caught up), pg_stat_replication on the primary',
    diagnostic: 'pg-replication',
  },
};

export function dbRequests(view: DbView, inv: Inventory): DiagnosticRequest[] {
  const spec = DB_VIEW_SPECS[view];
  const primary = hostsWithRole(inv, 'db-primary').map((h) => h.name);
  const replicas = hostsWithRole(inv, 'db-replica').map((h) => h.name);
  // The primary answers for the replicas too (pg-replication checks both sides from it).
  const targets = primary.length > 0 ? primary : replicas.slice(0, 1);
  return targets.map((target) => ({
    diagnostic: spec.diagnostic,
    target,
    ...(spec.input !== undefined ? { input: spec.input } : {}),
  }));
}

export function runDb(view: DbView, env: CommandEnv): Promise<DiagnosticResult[]> {
  return diagnose(env, dbRequests(view, env.inventory));
}
