/**
 * `/qnwis security` (runbook "Security Monitoring"), its three checks at once:
 *   sudo grep "authentication failed" /var/log/qnwis/audit.log | tail -n 100   (every app host)
 *   sudo grep "rate_limit_exceeded" /var/log/qnwis/app.log | tail -n 100       (every app host)
 *   SELECT user_id, count(*) FROM audit.query_log WHERE created_at > now() - interval '1 hour'
 *     GROUP BY user_id HAVING count(*) > 100                                     (the primary)
 */
import { DatabaseError, DatabaseTimeoutError, DatabaseUnreachableError } from '../../../errors.js';
import { hostsWithRole } from '../../../inventory.js';
import { logGrepTail } from '../../../ops/log-commands.js';
import type { CommandEnv, HeavyQueryUser } from '../env.js';
import { hostLogFiles } from '../parse.js';
import { problemOf, splitLines } from './logs.js';

export const SECURITY_LINES = 100;
export const HEAVY_USER_THRESHOLD = 100;
export const HEAVY_USER_WINDOW_MINUTES = 60;
export const HEAVY_USER_LIMIT = 50;

export interface HostLogMatches {
  readonly host: string;
  /** The last SECURITY_LINES matching lines (oldest first). */
  readonly lines: readonly string[];
  readonly problem: string | null;
}

export interface LogCheck {
  readonly title: string;
  readonly runbook: string;
  readonly hosts: readonly HostLogMatches[];
}

export interface HeavyUsersCheck {
  readonly runbook: string;
  readonly host: string | null;
  readonly users: readonly HeavyQueryUser[];
  readonly problem: string | null;
}

export interface SecurityReport {
  readonly authFailures: LogCheck;
  readonly rateLimits: LogCheck;
  readonly heavyUsers: HeavyUsersCheck;
  readonly durationMs: number;
}

async function grepEveryAppHost(env: CommandEnv, log: string, pattern: string): Promise<HostLogMatches[]> {
  const hosts = hostsWithRole(env.inventory, 'app');
  return Promise.all(
    hosts.map(async (host): Promise<HostLogMatches> => {
      const file = hostLogFiles(env.inventory, host.name).get(log);
      if (!file) return { host: host.name, lines: [], problem: `no ${log} log in the inventory` };
      try {
        const result = await env.diagnostics.ssh.run(host, logGrepTail, {
          pattern,
          file,
          lines: SECURITY_LINES,
        });
        return { host: host.name, lines: splitLines(result.stdout), problem: null };
      } catch (err) {
        return { host: host.name, lines: [], problem: problemOf(err) };
      }
    }),
  );
}

async function heavyUsers(env: CommandEnv): Promise<HeavyUsersCheck> {
  const runbook = `users with > ${HEAVY_USER_THRESHOLD} queries in audit.query_log in the last hour`;
  const primary = hostsWithRole(env.inventory, 'db-primary')[0];
  if (!primary) return { runbook, host: null, users: [], problem: 'no db-primary in the inventory' };
  try {
    const users = await env.security.heavyQueryUsers(primary, {
      threshold: HEAVY_USER_THRESHOLD,
      windowMinutes: HEAVY_USER_WINDOW_MINUTES,
      limit: HEAVY_USER_LIMIT,
    });
    return { runbook, host: primary.name, users, problem: null };
  } catch (err) {
    return { runbook, host: primary.name, users: [], problem: databaseProblem(err, env) };
  }
}

/** A database failure as a sentence; a missing grant says which one. */
function databaseProblem(err: unknown, env: CommandEnv): string {
  if (err instanceof DatabaseError && err.sqlState === '42501') {
    return `the bot's database role may not read audit.query_log (${err.sqlState}): GRANT USAGE ON SCHEMA audit TO ${env.inventory.database.user}; GRANT SELECT ON audit.query_log TO ${env.inventory.database.user}`;
  }
  if (err instanceof DatabaseError && err.sqlState === '42P01') return 'there is no audit.query_log table';
  if (err instanceof DatabaseUnreachableError) return 'the database is unreachable';
  if (err instanceof DatabaseTimeoutError) return `the query did not finish within ${err.timeoutMs} ms`;
  if (err instanceof DatabaseError)
    return `the query failed${err.sqlState ? ` (SQLSTATE ${err.sqlState})` : ''}`;
  throw err;
}

export async function runSecurity(env: CommandEnv): Promise<SecurityReport> {
  const started = performance.now();
  const [auth, rate, users] = await Promise.all([
    grepEveryAppHost(env, 'audit', 'authentication failed'),
    grepEveryAppHost(env, 'app', 'rate_limit_exceeded'),
    heavyUsers(env),
  ]);
  return {
    authFailures: {
      title: 'Failed authentications',
      runbook: `grep "authentication failed" audit.log | tail -n ${SECURITY_LINES}`,
      hosts: auth,
    },
    rateLimits: {
      title: 'Rate-limit violations',
      runbook: `grep "rate_limit_exceeded" app.log | tail -n ${SECURITY_LINES}`,
      hosts: rate,
    },
    heavyUsers: users,
    durationMs: Math.round(performance.now() - started),
  };
}
