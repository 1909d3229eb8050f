/**
 * pg-table-sizes — runbook "Check table sizes": the 20 largest tables of a schema (default public)
 * with their total size (heap, indexes, TOAST). Informational.
 */
import { z } from 'zod';
import { DatabaseError } from '../../errors.js';
import type { TableSize } from '../adapters/postgres.js';
import { diagnose, formatBytes, hostNameSchema, oneLine, plural, resolveHost, targetName } from './common.js';
import type { Diagnostic } from './types.js';

const NAME = 'pg-table-sizes';
const ROLES = ['db-primary', 'db-replica'] as const;

export const pgTableSizesInput = z.strictObject({
  /** Database host; default: the primary. */
  target: hostNameSchema.optional(),
  /** A schema name (bound as a parameter, never spliced into SQL). */
  schema: z
    .string()
    .max(63)
    .regex(/^[a-z_][a-z0-9_$]{0,62}$/, 'must be a lower-case schema name')
    .default('public'),
  limit: z.number().int().min(1).max(100).default(20),
});

export interface PgTableSizesData {
  readonly schema: string;
  readonly tables: readonly TableSize[];
  readonly totalBytes: number;
}

export const pgTableSizes: Diagnostic<typeof pgTableSizesInput, PgTableSizesData> = {
  name: NAME,
  title: 'Table sizes',
  runbook:
    "SELECT schemaname, tablename, pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename)) AS size FROM pg_tables WHERE schemaname = 'public' ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC LIMIT 20;",
  input: pgTableSizesInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      let tables: TableSize[];
      try {
        tables = await ctx.db.tableSizes(host, { schema: input.schema, limit: input.limit });
      } catch (err) {
        // 55P03 lock_not_available: a session holds an exclusive lock on one of the tables.
        if (err instanceof DatabaseError && err.sqlState === '55P03') {
          return {
            status: 'warn',
            summary: `${host.name}: table sizes blocked — a session holds an exclusive lock on a table in ${input.schema} (lock_timeout 1 s); see pg-active-queries`,
            error: oneLine(err.message, 300),
          };
        }
        throw err;
      }
      const totalBytes = tables.reduce((n, t) => n + t.totalBytes, 0);
      const data: PgTableSizesData = { schema: input.schema, tables, totalBytes };
      const [largest] = tables;
      if (!largest) {
        return { status: 'warn', summary: `${host.name}: no tables in schema ${input.schema}`, data };
      }
      const summary =
        `${host.name}: ${plural(tables.length, 'table')} in ${input.schema}${tables.length === input.limit ? ` (the largest ${input.limit})` : ''} ` +
        `total ${formatBytes(totalBytes)}; ` +
        `largest ${largest.table} ${formatBytes(largest.totalBytes)}`;
      return { status: 'ok', summary: oneLine(summary), data };
    });
  },
};
