/**
 * `kill-query PID` — runbook Scenario 2, step 2: `SELECT pg_terminate_backend(PID)`, made safe for
 * an approval that may wait minutes.
 *
 * - plan: finds the pid among the active client backends of the database hosts (primary first,
 *   then replicas) and captures what the approvers must see and what must still hold at run time:
 *   user, database, application, age, the statement text, the session's backend_start and the
 *   statement's query_start. Refuses to plan when no database host runs a query with that pid.
 * - precheck: the same pid is still that session (backend_start) running that statement
 *   (query_start and text); otherwise a sentence saying what changed.
 * - run: `FleetDatabase.terminateBackend(host, pid, expect)`, which checks and signals in one
 *   statement, so a pid reused or a new statement of the same session between the precheck and
 *   the signal is refused, never killed.
 * - verify: the `pg-active-queries` diagnostic no longer lists that backend (polled briefly: a
 *   terminated backend needs a moment to exit).
 */
import { type Host, hostsWithRole, type Inventory } from '../../inventory.js';
import type { ActiveQuery, TerminateResult } from '../adapters/postgres.js';
import { formatDuration, oneLine } from '../diagnostics/common.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import type { PgActiveQueriesData } from '../diagnostics/pg-active-queries.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type KillQueryArgs = CommandArgs['kill-query'];

export type KillQueryFacts = {
  /** The database host whose backend it is. */
  readonly host: string;
  readonly pid: number;
  readonly user: string | null;
  readonly database: string | null;
  readonly applicationName: string | null;
  readonly clientAddr: string | null;
  /** How long the statement had been running when the plan was made, ms. */
  readonly ageMs: number;
  readonly waitEventType: string | null;
  /** The full statement text as pg_stat_activity shows it (compared exactly at run time). */
  readonly query: string;
  /** ISO-8601 UTC with microseconds, exactly as the adapter reports them. */
  readonly backendStart: string;
  readonly queryStart: string;
};

export type KillQueryPlan = CommandPlan<KillQueryFacts>;

export interface KillQueryOptions {
  /** How long verification waits for the backend to disappear (default 5000 ms). */
  readonly verifyWaitMs?: number;
  /** Pause between verification polls (default 250 ms). */
  readonly verifyPollMs?: number;
}

/** Every active query of a host, however young (the pid the operator saw may be seconds old). */
const LOOKUP = { olderThanMs: 0, limit: 1000 } as const;
/** The diagnostic's own maximum. */
const DIAGNOSTIC_LIMIT = 100;

function dbHosts(inv: Inventory): Host[] {
  return [...hostsWithRole(inv, 'db-primary'), ...hostsWithRole(inv, 'db-replica')];
}

function dbHost(inv: Inventory, name: string): Host | string {
  const host = inv.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.some((r) => r === 'db-primary' || r === 'db-replica'))
    return `${name} is not a database host (roles: ${host.roles.join(', ')})`;
  return host;
}

function describeBackend(f: KillQueryFacts): string {
  const who = [f.user ?? 'unknown user', f.applicationName].filter(Boolean).join('/');
  return `pid ${f.pid} on ${f.host} (${who}, database ${f.database ?? '?'}, running ${formatDuration(f.ageMs)})`;
}

/** Why the backend `now` (or its absence) is not the one planned, or undefined when it is. */
export function backendChange(f: KillQueryFacts, now: ActiveQuery | undefined): string | undefined {
  if (!now) {
    return `pid ${f.pid} is no longer running a query on ${f.host} (the statement finished or the session ended): nothing to kill`;
  }
  if (now.backendStart !== f.backendStart) {
    return (
      `pid ${f.pid} on ${f.host} now belongs to another session (started ${now.backendStart}; ` +
      `the approved one started ${f.backendStart}): not the backend that was approved`
    );
  }
  if (now.queryStart !== f.queryStart || now.query !== f.query) {
    return (
      `pid ${f.pid} on ${f.host} now runs another statement (started ${now.queryStart}: ` +
      `${oneLine(now.query, 120)}); the approved one (started ${f.queryStart}: ${oneLine(f.query, 120)}) has finished`
    );
  }
  return undefined;
}

function refusalText(f: KillQueryFacts, r: Extract<TerminateResult, { terminated: false }>): string {
  const now = r.current;
  switch (r.reason) {
    case 'not_found':
      return `pid ${f.pid} no longer exists on ${f.host}: nothing was terminated`;
    case 'own_backend':
      return `pid ${f.pid} is the bot's own connection: refused`;
    case 'changed':
      return oneLine(
        `pid ${f.pid} on ${f.host} is no longer the approved backend and statement` +
          (now ? ` (now: session started ${now.backendStart}, statement started ${now.queryStart})` : '') +
          ': refused, nothing was terminated',
        500,
      );
    case 'finished':
      return `the approved statement of pid ${f.pid} has finished (state ${now?.state ?? 'unknown'}): nothing was terminated`;
    case 'not_permitted':
      return `pid ${f.pid} is a superuser's backend, which the bot's role may not signal: nothing was terminated`;
    case 'signal_failed':
      return `pid ${f.pid}: the signal could not be sent (the backend exited in between)`;
  }
}

export function createKillQueryCommand(
  opts: KillQueryOptions = {},
): CommandModule<KillQueryArgs, KillQueryFacts> {
  const verifyWaitMs = opts.verifyWaitMs ?? 5_000;
  const verifyPollMs = opts.verifyPollMs ?? 250;

  /** One look with the diagnostic: is the planned backend still listed? */
  async function look(
    ctx: CommandContext,
    f: KillQueryFacts,
    host: Host,
  ): Promise<{ result: DiagnosticResult; listed: boolean | undefined }> {
    const [result] = await runDiagnostics(ctx, [
      { diagnostic: 'pg-active-queries', target: f.host, input: { minAgeMs: 0, limit: DIAGNOSTIC_LIMIT } },
    ]);
    if (!result) throw new TypeError('runDiagnostics returned no result');
    const data = result.data as PgActiveQueriesData | undefined;
    if (!data) return { result, listed: undefined };
    const same = (q: ActiveQuery) => q.pid === f.pid && q.backendStart === f.backendStart;
    if (data.queries.some(same)) return { result, listed: true };
    if (data.queries.length < DIAGNOSTIC_LIMIT) return { result, listed: false };
    // The listing is full: look the pid up directly before concluding it is gone.
    try {
      return { result, listed: (await ctx.db.activeQueries(host, LOOKUP)).some(same) };
    } catch {
      return { result, listed: undefined };
    }
  }

  return {
    name: 'kill-query',

    async plan(ctx, args) {
      const hosts = dbHosts(ctx.inventory);
      if (hosts.length === 0) throw new PlanRefusedError('kill-query', 'the inventory has no database host');
      const looked = await Promise.allSettled(hosts.map((h) => ctx.db.activeQueries(h, LOOKUP)));
      const found: { host: Host; q: ActiveQuery }[] = [];
      const unreadable: string[] = [];
      const checked: string[] = [];
      for (const [i, r] of looked.entries()) {
        const host = hosts[i] as Host;
        if (r.status === 'rejected') unreadable.push(`${host.name} (${errorText(r.reason)})`);
        else {
          checked.push(host.name);
          const q = r.value.find((row) => row.pid === args.pid);
          if (q) found.push({ host, q });
        }
      }
      if (found.length > 1) {
        throw new PlanRefusedError(
          'kill-query',
          `pid ${args.pid} runs a query on ${found.map((m) => m.host.name).join(' and ')}: ` +
            'which one is meant cannot be told from the pid alone',
        );
      }
      const [match] = found;
      if (!match) {
        throw new PlanRefusedError(
          'kill-query',
          oneLine(
            `pid ${args.pid} is not running a query` +
              (checked.length > 0 ? ` on ${checked.join(' or ')}` : '') +
              (unreadable.length > 0 ? `; could not check ${unreadable.join(', ')}` : '') +
              ': nothing to kill (pg-active-queries lists the running ones)',
            600,
          ),
        );
      }
      const { host, q } = match;
      const facts: KillQueryFacts = {
        host: host.name,
        pid: q.pid,
        user: q.user,
        database: q.database,
        applicationName: q.applicationName,
        clientAddr: q.clientAddr,
        ageMs: Math.max(0, Math.round(q.ageMs)),
        waitEventType: q.waitEventType,
        query: q.query,
        backendStart: q.backendStart,
        queryStart: q.queryStart,
      };
      return {
        command: 'kill-query',
        summary: `kill-query ${q.pid}`,
        steps: [
          {
            id: 'terminate',
            host: host.name,
            kind: 'sql',
            description: oneLine(
              `SELECT pg_terminate_backend(${q.pid}) on ${host.name}, only if pid ${q.pid} is still the session ` +
                `started ${q.backendStart} running the statement started ${q.queryStart}: ${oneLine(q.query, 200)}`,
              500,
            ),
          },
        ],
        blastRadius:
          `1 database backend: ${describeBackend(facts)}; its open transaction is rolled back ` +
          'and its client loses the connection',
        facts,
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.pid !== args.pid)
        return { ok: false, reason: `the plan is for pid ${f.pid}, the request for ${args.pid}` };
      const host = dbHost(ctx.inventory, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      let rows: ActiveQuery[];
      try {
        rows = await ctx.db.activeQueries(host, LOOKUP);
      } catch (err) {
        return { ok: false, reason: `cannot check pid ${f.pid} on ${f.host}: ${errorText(err)}` };
      }
      const now = rows.find((r) => r.pid === f.pid);
      const change = backendChange(f, now);
      if (change !== undefined || !now) return { ok: false, reason: change ?? 'the backend is gone' };
      return {
        ok: true,
        detail: `pid ${f.pid} on ${f.host} still runs the approved statement (for ${formatDuration(now.ageMs)})`,
      };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let terminated = false;
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ terminated }),
        handlers: {
          terminate: async () => {
            const host = dbHost(ctx.inventory, f.host);
            if (typeof host === 'string') return { status: 'failed', detail: host };
            const r = await ctx.db.terminateBackend(host, f.pid, {
              backendStart: f.backendStart,
              queryStart: f.queryStart,
              query: f.query,
            });
            if (!r.terminated) return { status: 'failed', detail: refusalText(f, r) };
            terminated = true;
            return {
              status: 'done',
              detail: `pg_terminate_backend(${f.pid}) signalled the backend on ${f.host}`,
            };
          },
        },
      });
    },

    async verify(ctx, _args, plan): Promise<VerifyResult> {
      const f = plan.facts;
      const before = oneLine(`${describeBackend(f)}: ${f.query}`, 400);
      const host = dbHost(ctx.inventory, f.host);
      if (typeof host === 'string') return { ok: false, before, after: host, detail: host, evidence: [] };
      const deadline = ctx.now().getTime() + verifyWaitMs;
      for (;;) {
        const { result, listed } = await look(ctx, f, host);
        const late = ctx.now().getTime() >= deadline;
        if (listed === false) {
          return {
            ok: true,
            before,
            after: result.summary,
            detail: `pid ${f.pid} is gone from pg_stat_activity's active queries on ${f.host}`,
            evidence: [result],
          };
        }
        if (late) {
          return {
            ok: false,
            before,
            after: result.summary,
            detail:
              listed === true
                ? `pid ${f.pid} is still running on ${f.host} ${formatDuration(verifyWaitMs)} later`
                : `cannot tell whether pid ${f.pid} is gone: ${result.summary}`,
            evidence: [result],
          };
        }
        await ctx.sleep(Math.min(verifyPollMs, deadline - ctx.now().getTime()));
      }
    },
  };
}

/** `kill-query` with the default verification wait (5 s). */
export const killQuery = createKillQueryCommand();
