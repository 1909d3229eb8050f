/**
 * pg-connections — runbook "Check connection count" / Scenario 1 step 4: connections to the QNWIS
 * database on a database host, compared with the app's pool size (`inventory.database.app_pool_size`,
 * DATABASE_POOL_SIZE, which is per app server) and the server's max_connections.
 *
 * The database-wide count is the sum of every app server's pool: on the lab's three app hosts with a
 * pool of 20, 19 connections is a quiet fleet, not a pool at 95 %. So each client (application_name,
 * else address) is compared with the pool size, and the total with pool size × app hosts.
 */
import { z } from 'zod';
import { hostsWithRole } from '../../inventory.js';
import type { ClientConnections, ConnectionCount } from '../adapters/postgres.js';
import { diagnose, hostNameSchema, oneLine, percent, plural, resolveHost, targetName } from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'pg-connections';
const ROLES = ['db-primary', 'db-replica'] as const;

export const pgConnectionsInput = z.strictObject({
  /** Database host; default: the primary. */
  target: hostNameSchema.optional(),
});

export interface BusiestClient {
  readonly client: string;
  readonly user: string | null;
  readonly total: number;
  /** total / appPoolSize. */
  readonly poolFraction: number;
}

export type PgConnectionsData = ConnectionCount & {
  /** Connections by client and role, largest first (the bot's own backend excluded). */
  readonly clients: readonly ClientConnections[];
  /** App hosts in the inventory: the fleet's pool capacity is appPoolSize × appHosts. */
  readonly appHosts: number;
  /** total / (appPoolSize × appHosts). */
  readonly fleetPoolFraction: number;
  /** The client with the most connections, not counting the bot's own role. */
  readonly busiestClient?: BusiestClient;
  /** total / maxConnections. */
  readonly serverFraction: number;
};

/** The client with most connections, ignoring `excludeUser` (the bot's role: its sessions are not the app's pool). */
export function busiestClient(
  clients: readonly ClientConnections[],
  appPoolSize: number,
  excludeUser: string,
): BusiestClient | undefined {
  const top = [...clients].filter((c) => c.user !== excludeUser).sort((a, b) => b.total - a.total)[0];
  if (!top) return undefined;
  return {
    client: top.client,
    user: top.user,
    total: top.total,
    poolFraction: appPoolSize > 0 ? top.total / appPoolSize : 0,
  };
}

/**
 * Error from 95 % of max_connections (new connections are about to be refused); warn when one client
 * holds ≥ 80 % of the app pool size, or the total is ≥ 80 % of the fleet's pools together.
 */
export function judgeConnections(
  c: Pick<ConnectionCount, 'total' | 'maxConnections' | 'appPoolSize'>,
  busiest: BusiestClient | undefined,
  appHosts: number,
): DiagnosticStatus {
  if (c.maxConnections > 0 && c.total >= 0.95 * c.maxConnections) return 'error';
  if (busiest && busiest.poolFraction >= 0.8) return 'warn';
  const capacity = c.appPoolSize * Math.max(1, appHosts);
  return capacity > 0 && c.total >= 0.8 * capacity ? 'warn' : 'ok';
}

export const pgConnections: Diagnostic<typeof pgConnectionsInput, PgConnectionsData> = {
  name: NAME,
  title: 'PostgreSQL connections',
  runbook: "SELECT count(*) FROM pg_stat_activity WHERE datname = 'qnwis_prod';",
  input: pgConnectionsInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const [c, clients] = await Promise.all([
        ctx.db.connectionCount(host),
        ctx.db.connectionsByClient(host),
      ]);
      const appHosts = hostsWithRole(ctx.inventory, 'app').length;
      const busiest = busiestClient(clients, c.appPoolSize, ctx.inventory.database.user);
      const capacity = c.appPoolSize * Math.max(1, appHosts);
      const data: PgConnectionsData = {
        ...c,
        clients,
        appHosts,
        fleetPoolFraction: capacity > 0 ? c.total / capacity : 0,
        ...(busiest ? { busiestClient: busiest } : {}),
        serverFraction: c.maxConnections > 0 ? c.total / c.maxConnections : 0,
      };
      const parts = [
        `${host.name}: ${plural(c.total, 'connection')} to ${c.database} (${c.active} active, ${c.idle} idle, ` +
          `${c.idleInTransaction} idle in transaction; max_connections ${c.maxConnections})`,
      ];
      if (busiest) {
        parts.push(
          `busiest client ${busiest.client} ${busiest.total} of pool ${c.appPoolSize} (${percent(busiest.poolFraction)})`,
        );
      }
      parts.push(`fleet ${c.total} of ${capacity} pooled (${percent(data.fleetPoolFraction)})`);
      return {
        status: judgeConnections(c, busiest, appHosts),
        summary: oneLine(parts.join('; '), 400),
        data,
      };
    });
  },
};
