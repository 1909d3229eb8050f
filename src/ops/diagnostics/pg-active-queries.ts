/**
 * pg-active-queries — runbook Scenario 2, step 1: statements active for more than 5 s, oldest first,
 * with pid, user, age, state and text. The session identity (backendStart, queryStart) is kept so a
 * later terminate can prove it kills the statement the operator saw.
 */
import { z } from 'zod';
import type { ActiveQuery } from '../adapters/postgres.js';
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

const NAME = 'pg-active-queries';
const ROLES = ['db-primary', 'db-replica'] as const;
const MAX_QUERY_CHARS = 2000;

export const pgActiveQueriesInput = z.strictObject({
  /** Database host; default: the primary. */
  target: hostNameSchema.optional(),
  /** Only statements running at least this long (runbook: 5 s). */
  minAgeMs: z.number().int().min(0).max(86_400_000).default(5_000),
  /** From this age the result is an error rather than a warning. */
  errorAgeMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
  limit: z.number().int().min(1).max(100).default(20),
});

export interface PgActiveQueriesData {
  readonly minAgeMs: number;
  readonly queries: readonly ActiveQuery[];
}

/** None → ok; any → warn; one older than `errorAgeMs` → error. */
export function judgeActiveQueries(
  queries: readonly { ageMs: number }[],
  errorAgeMs: number,
): DiagnosticStatus {
  if (queries.length === 0) return 'ok';
  return queries.some((q) => q.ageMs >= errorAgeMs) ? 'error' : 'warn';
}

export const pgActiveQueries: Diagnostic<typeof pgActiveQueriesInput, PgActiveQueriesData> = {
  name: NAME,
  title: 'Long-running queries',
  runbook:
    "SELECT pid, now() - query_start AS duration, query FROM pg_stat_activity WHERE state = 'active' AND now() - query_start > interval '5 seconds' ORDER BY duration DESC;",
  input: pgActiveQueriesInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const rows = await ctx.db.activeQueries(host, { olderThanMs: input.minAgeMs, limit: input.limit });
      const queries = rows.map((q) =>
        q.query.length > MAX_QUERY_CHARS ? { ...q, query: `${q.query.slice(0, MAX_QUERY_CHARS - 1)}…` } : q,
      );
      const data: PgActiveQueriesData = { minAgeMs: input.minAgeMs, queries };
      const over = formatDuration(input.minAgeMs);
      const [oldest] = queries; // the adapter orders by query_start: oldest first
      if (!oldest) {
        return { status: 'ok', summary: `${host.name}: no query active for more than ${over}`, data };
      }
      const summary =
        `${host.name}: ${plural(queries.length, 'query', 'queries')} active > ${over}; oldest pid ${oldest.pid} ` +
        `(${oldest.user ?? '?'}${oldest.applicationName ? `/${oldest.applicationName}` : ''}, ${formatDuration(oldest.ageMs)}` +
        `${oldest.waitEventType ? `, waiting on ${oldest.waitEventType}` : ''}): ${oneLine(oldest.query, 160)}`;
      return { status: judgeActiveQueries(queries, input.errorAgeMs), summary: oneLine(summary, 400), data };
    });
  },
};
