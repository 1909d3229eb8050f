/**
 * The runbook's "Check suspicious query patterns" (Security Monitoring) against the QNWIS database:
 *
 *   SELECT user_id, count(*) FROM audit.query_log
 *    WHERE created_at > now() - interval '1 hour' GROUP BY user_id HAVING count(*) > 100;
 *
 * as one parameterised statement in a READ ONLY session with a server-side statement_timeout, as
 * the bot's ops role (`inventory.database.user`). Failures are the typed database errors of
 * `classifyPgError` (42501 when the role may not read `audit.query_log`).
 *
 * Why a file of its own: FleetDatabase keeps its SQL private and was being extended in parallel;
 * this belongs there as `FleetDatabase.heavyQueryUsers` (same SQL, same options) and should move.
 */
import pg from 'pg';
import { InvalidArgumentError, UnknownHostError } from '../../errors.js';
import type { Host, Inventory } from '../../inventory.js';
import { type Logger, silentLogger } from '../../observability/logger.js';
import { classifyPgError } from './postgres.js';

const HEAVY_USERS_SQL = `
  SELECT user_id, count(*)::int AS queries
    FROM audit.query_log
   WHERE created_at > now() - make_interval(mins => $1::int)
   GROUP BY user_id
  HAVING count(*) > $2::int
   ORDER BY count(*) DESC, user_id
   LIMIT $3::int`;

export interface QueryLogReaderOptions {
  readonly database: Pick<Inventory['database'], 'name' | 'port' | 'user'>;
  readonly password: string | undefined;
  /** Server-side statement_timeout (default 5000 ms); the client gives up 2 s later. */
  readonly statementTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
}

export class QueryLogReader {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly opts: QueryLogReaderOptions;
  private readonly statementTimeoutMs: number;
  private readonly log: Logger;

  constructor(opts: QueryLogReaderOptions) {
    this.opts = opts;
    this.statementTimeoutMs = opts.statementTimeoutMs ?? 5000;
    this.log = (opts.logger ?? silentLogger).child({ component: 'query-log' });
  }

  /** Users with more than `threshold` queries in the last `windowMinutes`, most first. */
  async heavyQueryUsers(
    host: Host,
    opts: { threshold: number; windowMinutes: number; limit: number },
  ): Promise<{ userId: string; queries: number }[]> {
    const { threshold, windowMinutes, limit } = opts;
    for (const [name, v, max] of [
      ['threshold', threshold, 1e9],
      ['windowMinutes', windowMinutes, 7 * 24 * 60],
      ['limit', limit, 1000],
    ] as const) {
      if (!Number.isInteger(v) || v < 0 || v > max)
        throw new InvalidArgumentError(`${name} must be 0..${max}`);
    }
    const timeouts = { statementMs: this.statementTimeoutMs, clientMs: this.statementTimeoutMs + 2000 };
    try {
      const res = await this.pool(host).query<{ user_id: string; queries: number }>({
        text: HEAVY_USERS_SQL,
        values: [windowMinutes, threshold, limit],
      });
      return res.rows.map((r) => ({ userId: r.user_id, queries: r.queries }));
    } catch (err) {
      throw classifyPgError(err, host.name, timeouts);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  }

  private pool(host: Host): pg.Pool {
    if (!host.roles.includes('db-primary') && !host.roles.includes('db-replica')) {
      throw new UnknownHostError(host.name, 'is not a database host');
    }
    let pool = this.pools.get(host.name);
    if (pool) return pool;
    pool = new pg.Pool({
      host: host.address,
      port: this.opts.database.port,
      database: this.opts.database.name,
      user: this.opts.database.user,
      password: this.opts.password,
      application_name: 'qnwis-chatops',
      // Read-only session: even a bug in this file could not write.
      options: '-c default_transaction_read_only=on',
      statement_timeout: this.statementTimeoutMs,
      query_timeout: this.statementTimeoutMs + 2000,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3000,
      max: 1,
      idleTimeoutMillis: 30_000,
    });
    pool.on('error', (err) =>
      this.log.warn({ host: host.name, err: { message: err.message } }, 'idle connection failed'),
    );
    this.pools.set(host.name, pool);
    return pool;
  }
}
