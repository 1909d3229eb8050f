/**
 * pg-statements — runbook "Check slow queries": pg_stat_statements' top 10 by mean execution time
 * in the QNWIS database. Without the extension the check is ok with a note (it is optional).
 */
import { z } from 'zod';
import type { StatementStat } from '../adapters/postgres.js';
import {
  diagnose,
  formatDuration,
  hostNameSchema,
  oneLine,
  plural,
  resolveHost,
  targetName,
} from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'pg-statements';
const ROLES = ['db-primary', 'db-replica'] as const;

export const pgStatementsInput = z.strictObject({
  /** Database host; default: the primary. */
  target: hostNameSchema.optional(),
  limit: z.number().int().min(1).max(50).default(10),
  /** A statement whose mean is at least this is worth a look (warn). */
  warnMeanMs: z.number().min(1).max(3_600_000).default(1_000),
});

export interface PgStatementsData {
  readonly available: boolean;
  /** Why pg_stat_statements could not be read, when it could not. */
  readonly note?: string;
  readonly statements: readonly StatementStat[];
}

/** Means are often sub-millisecond: 0.04 → "0.04 ms", 3.2 → "3.2 ms", 84 → "84 ms", 12_300 → "12 s". */
export function formatMean(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return formatDuration(ms);
}

export function judgeStatements(
  statements: readonly { meanTimeMs: number }[],
  warnMeanMs: number,
): DiagnosticStatus {
  return statements.some((s) => s.meanTimeMs >= warnMeanMs) ? 'warn' : 'ok';
}

export const pgStatements: Diagnostic<typeof pgStatementsInput, PgStatementsData> = {
  name: NAME,
  title: 'Slowest statements (pg_stat_statements)',
  runbook:
    'SELECT query, calls, total_time, mean_time FROM pg_stat_statements ORDER BY mean_time DESC LIMIT 10;',
  input: pgStatementsInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const top = await ctx.db.topStatements(host, { limit: input.limit });
      if (!top.available) {
        return {
          status: 'ok',
          summary: oneLine(
            `${host.name}: pg_stat_statements not available (${top.reason}); slow statements not checked`,
          ),
          data: { available: false, note: top.reason, statements: [] },
        };
      }
      const data: PgStatementsData = { available: true, statements: top.statements };
      const [slowest] = top.statements;
      if (!slowest) {
        return { status: 'ok', summary: `${host.name}: pg_stat_statements has no statements yet`, data };
      }
      const summary =
        `${host.name}: slowest statement mean ${formatMean(slowest.meanTimeMs)} over ${plural(slowest.calls, 'call')} ` +
        `(${oneLine(slowest.query, 120)}); ${plural(top.statements.length, 'statement')} listed`;
      return {
        status: judgeStatements(top.statements, input.warnMeanMs),
        summary: oneLine(summary, 400),
        data,
      };
    });
  },
};
