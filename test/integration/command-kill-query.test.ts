/**
 * `kill-query PID` against the lab: the `slow-query` fault starts a real report query
 * (`pg_sleep(3600)` as qnwis_reports, holding a lock); its pid comes from the pg-active-queries
 * diagnostic, as an operator would find it. Plan, precheck, run (terminateBackend with the
 * planned identity) and verify: the backend is gone. A plan whose backend changed is refused by
 * the precheck, and by the terminate itself when it gets that far. The fault is healed in finally.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Faults, REPORTS_ROLE } from '../../lab/faults.js';
import { getHost, type Inventory } from '../../src/inventory.js';
import type { ActiveQuery, FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import type { SshRunner } from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import { type CommandContext, killQuery, type StepProgress } from '../../src/ops/commands/index.js';
import { runDiagnostics } from '../../src/ops/diagnostics/index.js';
import type { PgActiveQueriesData } from '../../src/ops/diagnostics/pg-active-queries.js';
import { openLabFleet } from '../support/fleet.js';
import { lab } from '../support/lab.js';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
const faults = new Faults(lab);

beforeAll(async () => {
  ({ inventory, ssh, db, cache, ctx } = await openLabFleet());
});

afterAll(async () => {
  await Promise.all([ssh.close(), db.close(), cache.close()]);
});

/** The report query's backend, as the pg-active-queries diagnostic lists it. */
async function findSlowQuery(): Promise<ActiveQuery> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [r] = await runDiagnostics(ctx, [
      { diagnostic: 'pg-active-queries', target: 'db-primary', input: { minAgeMs: 0 } },
    ]);
    const q = (r?.data as PgActiveQueriesData | undefined)?.queries.find(
      (row) => row.user === REPORTS_ROLE && row.query.includes('pg_sleep'),
    );
    if (q) return q;
    if (Date.now() > deadline) throw new Error(`no pg_sleep report query listed: ${r?.summary}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function pidArgs(pid: number) {
  const parsed = parseCommand('kill-query', { pid: String(pid) }, inventory);
  if (!parsed.ok || parsed.command.name !== 'kill-query') throw new Error('kill-query did not parse');
  return parsed.command.args;
}

async function stillActive(pid: number): Promise<ActiveQuery | undefined> {
  const rows = await db.activeQueries(getHost(inventory, 'db-primary'), { olderThanMs: 0, limit: 1000 });
  return rows.find((r) => r.pid === pid);
}

describe('kill-query against the slow-query fault', () => {
  it('plan → precheck → run → verify: the pg_sleep backend is gone', async () => {
    try {
      await faults.inject('slow-query');
      const slow = await findSlowQuery();
      const args = pidArgs(slow.pid);

      const plan = await killQuery.plan(ctx, args);
      expect(plan.facts).toMatchObject({
        host: 'db-primary',
        pid: slow.pid,
        user: REPORTS_ROLE,
        database: 'qnwis_prod',
        backendStart: slow.backendStart,
        queryStart: slow.queryStart,
      });
      expect(plan.facts.query).toContain('pg_sleep(3600)');
      expect(plan.facts.ageMs).toBeGreaterThanOrEqual(0);
      expect(plan.steps).toEqual([
        expect.objectContaining({ id: 'terminate', host: 'db-primary', kind: 'sql' }),
      ]);
      expect(plan.blastRadius).toMatch(
        new RegExp(`^1 database backend: pid ${slow.pid} on db-primary \\(qnwis_reports/quarterly-report`),
      );

      expect(await killQuery.precheck(ctx, args, plan)).toMatchObject({ ok: true });

      const progress: StepProgress[] = [];
      const outcome = await killQuery.run(
        ctx,
        args,
        plan,
        async (p) => {
          progress.push(p);
        },
        new AbortController().signal,
      );
      expect(outcome.status, outcome.detail).toBe('succeeded');
      expect(progress.map((p) => `${p.stepId}:${p.status}`)).toEqual(['terminate:running', 'terminate:done']);

      const v = await killQuery.verify(ctx, args, plan, outcome);
      expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
      expect(v.detail).toBe(`pid ${slow.pid} is gone from pg_stat_activity's active queries on db-primary`);
      expect(v.before).toContain('pg_sleep(3600)');
      expect(v.evidence[0]?.diagnostic).toBe('pg-active-queries');
      const listed = (v.evidence[0]?.data as PgActiveQueriesData | undefined)?.queries.map((q) => q.pid);
      expect(listed).toBeDefined();
      expect(listed).not.toContain(slow.pid);
      // Independently: no such backend runs anymore.
      expect(await stillActive(slow.pid)).toBeUndefined();
    } finally {
      await faults.heal('slow-query');
    }
  });

  it('a backend that changed since the plan is refused by the precheck and by the terminate itself', async () => {
    try {
      await faults.inject('slow-query');
      const slow = await findSlowQuery();
      const args = pidArgs(slow.pid);
      const plan = await killQuery.plan(ctx, args);

      // As if the approved statement had finished and the session had started this one since.
      const earlier = {
        ...plan,
        facts: { ...plan.facts, queryStart: '2020-01-01T00:00:00.000000Z', query: 'SELECT 1' },
      };
      const pre = await killQuery.precheck(ctx, args, earlier);
      expect(pre.ok).toBe(false);
      const reason = pre.ok ? '' : pre.reason;
      expect(reason).toContain(
        `pid ${slow.pid} on db-primary now runs another statement (started ${slow.queryStart}: BEGIN;`,
      );
      expect(reason).toContain(
        '; the approved one (started 2020-01-01T00:00:00.000000Z: SELECT 1) has finished',
      );
      // Past a precheck, terminateBackend refuses atomically; the real query keeps running.
      const refused = await killQuery.run(ctx, args, earlier, async () => {}, new AbortController().signal);
      expect(refused.status).toBe('failed');
      expect(refused.steps[0]?.detail).toMatch(
        new RegExp(`^pid ${slow.pid} on db-primary is no longer the approved backend and statement`),
      );
      expect(await stillActive(slow.pid)).toMatchObject({ backendStart: slow.backendStart });

      // Another session on another pid: the plan's identity does not match it.
      const other = await killQuery.precheck(ctx, args, {
        ...plan,
        facts: { ...plan.facts, backendStart: '2020-01-01T00:00:00.000000Z' },
      });
      expect(other).toMatchObject({
        ok: false,
        reason: expect.stringContaining('now belongs to another session'),
      });

      // The query ends before the run (someone else terminated it): nothing left to kill.
      const ended = await db.terminateBackend(getHost(inventory, 'db-primary'), slow.pid);
      expect(ended.terminated).toBe(true);
      const deadline = Date.now() + 5_000;
      while ((await stillActive(slow.pid)) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(await killQuery.precheck(ctx, args, plan)).toEqual({
        ok: false,
        reason:
          `pid ${slow.pid} is no longer running a query on db-primary ` +
          '(the statement finished or the session ended): nothing to kill',
      });
      // And planning it now refuses too.
      await expect(killQuery.plan(ctx, args)).rejects.toThrow(
        `kill-query: pid ${slow.pid} is not running a query on db-primary or db-replica: nothing to kill`,
      );
    } finally {
      await faults.heal('slow-query');
    }
  });
});
