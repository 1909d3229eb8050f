/**
 * pg-seqscans — runbook Scenario 2, step 3 "Check for missing indexes": tables of the QNWIS
 * database with more than 1000 sequential scans, most first.
 */
import { z } from 'zod';
import type { SeqScanStat } from '../adapters/postgres.js';
import { diagnose, hostNameSchema, oneLine, plural, resolveHost, targetName } from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'pg-seqscans';
const ROLES = ['db-primary', 'db-replica'] as const;

export const pgSeqScansInput = z.strictObject({
  /** Database host; default: the primary. */
  target: hostNameSchema.optional(),
  minSeqScans: z.number().int().min(0).max(1_000_000_000).default(1_000),
  limit: z.number().int().min(1).max(100).default(10),
  /** A table this large that is scanned sequentially more often than by index probably lacks an index. */
  minRows: z.number().int().min(0).max(1_000_000_000).default(10_000),
});

export interface PgSeqScansData {
  readonly minSeqScans: number;
  readonly tables: readonly SeqScanStat[];
  /** Tables with at least `minRows` rows scanned sequentially more often than by index. */
  readonly suspects: readonly string[];
}

export function seqScanSuspects(tables: readonly SeqScanStat[], minRows: number): string[] {
  return tables
    .filter((t) => t.liveTuples >= minRows && t.seqScan > (t.idxScan ?? 0))
    .map((t) => `${t.schema}.${t.table}`);
}

export function judgeSeqScans(suspects: readonly string[]): DiagnosticStatus {
  return suspects.length > 0 ? 'warn' : 'ok';
}

export const pgSeqScans: Diagnostic<typeof pgSeqScansInput, PgSeqScansData> = {
  name: NAME,
  title: 'Sequential scans (missing indexes)',
  runbook: 'SELECT * FROM pg_stat_user_tables WHERE seq_scan > 1000 ORDER BY seq_scan DESC LIMIT 10;',
  input: pgSeqScansInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const tables = await ctx.db.seqScans(host, { minSeqScans: input.minSeqScans, limit: input.limit });
      const suspects = seqScanSuspects(tables, input.minRows);
      const data: PgSeqScansData = { minSeqScans: input.minSeqScans, tables, suspects };
      const [first] = tables;
      if (!first) {
        return {
          status: 'ok',
          summary: `${host.name}: no table with more than ${input.minSeqScans.toLocaleString('en-US')} sequential scans`,
          data,
        };
      }
      const describe = (t: SeqScanStat) =>
        `${t.table}: ${t.seqScan.toLocaleString('en-US')} seq scans, ${t.idxScan === null ? 'no index' : `${t.idxScan.toLocaleString('en-US')} index scans`}, ${t.liveTuples.toLocaleString('en-US')} rows`;
      const focus = tables.find((t) => suspects.includes(`${t.schema}.${t.table}`)) ?? first;
      const summary =
        `${host.name}: ${plural(tables.length, 'table')} with > ${input.minSeqScans.toLocaleString('en-US')} sequential scans; ` +
        `${describe(focus)}${suspects.length > 0 ? ` — likely missing index (${plural(suspects.length, 'suspect')})` : ''}`;
      return { status: judgeSeqScans(suspects), summary: oneLine(summary, 400), data };
    });
  },
};
