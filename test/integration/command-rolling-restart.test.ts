/**
 * `rolling-restart` against the lab with the real adapters and the real `sudo systemctl restart
 * qnwis` on each app host, gated on each host's /health and the load balancer's (nginx on lb).
 *
 * - In a non-inventory order, with the catalog's shortest wait (5 s): when each host's restart
 *   returns, the hosts before it already run new processes and the ones after it still run their
 *   old ones (read over SSH from the progress callback), so the order is the real one; verify sees
 *   a new MainPID and a healthy host everywhere and a healthy load balancer.
 * - Halting: the `down` fault (systemctl stop qnwis) hits app-02 right after its restart returns;
 *   its health gate fails, the run halts there, app-03 keeps its process, and the outcome names
 *   app-01 as restarted, app-02 as restarted but unhealthy and app-03 as not touched. The fault is
 *   healed in finally and every app host is healthy again before the file ends.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Faults } from '../../lab/faults.js';
import { getHost, hostsWithRole, type Inventory } from '../../src/inventory.js';
import { checkHealth } from '../../src/ops/adapters/http.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import type { SshRunner } from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  createRollingRestartCommand,
  type RollingRestartArgs,
  rollingRestart,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { serviceMainPid } from '../../src/ops/host-commands.js';
import { openLabFleet } from '../support/fleet.js';
import { lab } from '../support/lab.js';

const APPS = ['app-01', 'app-02', 'app-03'];
const LB_HEALTH = 'http://127.0.4.1:8080/health';

let inventory: Inventory;
let ssh: SshRunner;
let db: FleetDatabase;
let cache: FleetCache;
let ctx: CommandContext;
const faults = new Faults(lab);

beforeAll(async () => {
  ({ inventory, ssh, db, cache, ctx } = await openLabFleet());
  expect(hostsWithRole(inventory, 'app').map((h) => h.name)).toEqual(APPS);
});

afterAll(async () => {
  try {
    await faults.heal('down');
    await allHealthy(20_000);
  } finally {
    await Promise.all([ssh.close(), db.close(), cache.close()]);
  }
});

async function mainPid(host: string): Promise<number> {
  return Number((await ssh.run(getHost(inventory, host), serviceMainPid, { unit: 'qnwis' })).stdout.trim());
}

async function mainPids(): Promise<Record<string, number>> {
  const pids = await Promise.all(APPS.map(mainPid));
  return Object.fromEntries(APPS.map((h, i) => [h, pids[i] ?? -1]));
}

/** Waits until every app host's /health and the load balancer's answer 200. */
async function allHealthy(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const urls = [...APPS.map((h) => `http://${getHost(inventory, h).address}:8000/health`), LB_HEALTH];
    const results = await Promise.all(urls.map((u) => checkHealth(u, { timeoutMs: 2_000 })));
    if (results.every((r) => r.ok)) return;
    if (Date.now() > deadline)
      throw new Error(`not healthy: ${urls.filter((_, i) => !results[i]?.ok).join(', ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function parse(raw: unknown): RollingRestartArgs {
  const parsed = parseCommand('rolling-restart', raw, inventory);
  if (!parsed.ok || parsed.command.name !== 'rolling-restart') throw new Error('did not parse');
  return parsed.command.args;
}

describe('rolling-restart in the lab', () => {
  it('restarts app-03, app-01, app-02 one at a time in that order, each healthy before the next', async () => {
    await allHealthy(20_000);
    const args = parse({ hosts: ['app-03', 'app-01', 'app-02'], wait: '5s' });
    expect(args).toEqual({ hosts: ['app-03', 'app-01', 'app-02'], waitSec: 5 });

    const plan = await rollingRestart.plan(ctx, args);
    expect(plan.steps.filter((s) => s.kind === 'remote-command').map((s) => s.host)).toEqual([
      'app-03',
      'app-01',
      'app-02',
    ]);
    expect(plan.blastRadius).toBe(
      '1 of 3 app hosts at a time, 3 in all, in this order: app-03 → app-01 → app-02; ' +
        'the load balancer keeps serving from the other 2',
    );
    expect(plan.facts.loadBalancerUrl).toBe(LB_HEALTH);

    expect(await rollingRestart.precheck(ctx, args, plan)).toEqual({
      ok: true,
      detail: 'app-03, app-01, app-02 answer over SSH; 3 of 3 app hosts and the load balancer are healthy',
    });

    const before = await mainPids();
    /** At each restart's return: which hosts already run a new process. */
    const replacedWhen: Record<string, string[]> = {};
    const progress: StepProgress[] = [];
    const started = Date.now();
    const outcome = await rollingRestart.run(
      ctx,
      args,
      plan,
      async (p) => {
        progress.push(p);
        if (p.status === 'done' && p.stepId.endsWith(':restart')) {
          const now = await mainPids();
          replacedWhen[p.stepId.split(':')[0] ?? ''] = APPS.filter((h) => now[h] !== before[h]);
        }
      },
      new AbortController().signal,
    );
    const tookMs = Date.now() - started;
    expect(outcome.status, outcome.detail).toBe('succeeded');
    expect(outcome.detail).toBe('3/3 hosts restarted and healthy, one at a time: app-03 → app-01 → app-02');
    // The real order: each restart found exactly the hosts before it already replaced.
    expect(replacedWhen).toEqual({
      'app-03': ['app-03'],
      'app-01': ['app-01', 'app-03'],
      'app-02': ['app-01', 'app-02', 'app-03'],
    });
    const gates = progress.filter((p) => p.stepId.endsWith(':health-gate') && p.status === 'done');
    expect(gates.map((p) => p.detail.split(' — ')[0])).toEqual([
      '1/3 hosts restarted: ✓ app-03 … app-01 … app-02',
      '2/3 hosts restarted: ✓ app-03 ✓ app-01 … app-02',
      '3/3 hosts restarted: ✓ app-03 ✓ app-01 ✓ app-02',
    ]);
    expect(gates[0]?.detail).toMatch(
      /— app-03: \/health HTTP 200 after .+; load balancer: \/health HTTP 200 after .+; next: app-01$/,
    );
    // Three 5 s waits plus three restarts; no gate had to wait long.
    expect(tookMs).toBeGreaterThanOrEqual(15_000);
    expect(tookMs).toBeLessThan(40_000);
    expect(outcome.observations).toMatchObject({
      order: ['app-03', 'app-01', 'app-02'],
      oldMainPids: before,
      restarted: ['app-03', 'app-01', 'app-02'],
      healthy: ['app-03', 'app-01', 'app-02'],
      haltedAt: null,
    });

    const v = await rollingRestart.verify(ctx, args, plan, outcome);
    expect(v.ok, `${v.detail} | ${v.after}`).toBe(true);
    expect(v.evidence.map((e) => `${e.diagnostic}:${e.target}:${e.status}`)).toEqual([
      'health:app-03:ok',
      'health:app-01:ok',
      'health:app-02:ok',
    ]);
    expect(v.detail).toMatch(/^every host runs a new process and is healthy \(app-03 \d+ → \d+, /);
    expect(v.detail).toMatch(/the load balancer answers HTTP 200$/);

    // The same facts, seen independently of the command.
    const after = await mainPids();
    for (const h of APPS) {
      expect(after[h]).toBeGreaterThan(0);
      expect(after[h]).not.toBe(before[h]);
    }
    await allHealthy(5_000);
  }, 90_000);

  it('halts at the host that does not come back: app-03 is untouched, the outcome says what was done', async () => {
    await allHealthy(20_000);
    // A short gate so the failing host costs seconds, not a minute.
    const mod = createRollingRestartCommand({ healthGateSec: 3 });
    const args = parse({ wait: '5s' });
    const plan = await mod.plan(ctx, args);
    expect((await mod.precheck(ctx, args, plan)).ok).toBe(true);
    const before = await mainPids();

    const progress: StepProgress[] = [];
    let outcome: Awaited<ReturnType<typeof mod.run>>;
    try {
      outcome = await mod.run(
        ctx,
        args,
        plan,
        async (p) => {
          progress.push(p);
          // app-02 goes down right after its restart, as a host that crashes on start would.
          if (p.stepId === 'app-02:restart' && p.status === 'done') await faults.inject('down', 'app-02');
        },
        new AbortController().signal,
      );
      expect(outcome.status).toBe('failed');
      const after = await mainPids();
      expect(after['app-01']).toBeGreaterThan(0);
      expect(after['app-01']).not.toBe(before['app-01']);
      expect(after['app-02']).toBe(0);
      // Never touched: the same process as before the run.
      expect(after['app-03']).toBe(before['app-03']);

      expect(progress.map((p) => `${p.stepId}:${p.status}`).slice(-4)).toEqual([
        'app-02:health-gate:failed',
        'app-03:record-pid:skipped',
        'app-03:restart:skipped',
        'app-03:health-gate:skipped',
      ]);
      expect(progress.find((p) => p.status === 'failed')?.detail).toMatch(
        /^1\/3 hosts restarted: ✓ app-01 ✗ app-02 … app-03 — app-02: \/health did not pass within 3 s \(\d+ attempts?; last: unreachable: .+\)$/,
      );
      expect(outcome.detail).toMatch(
        /^halted at app-02 \(app-02: \/health did not pass within 3 s .+\); restarted and healthy: app-01; restarted but unhealthy: app-02; not touched: app-03$/,
      );
      expect(outcome.observations).toMatchObject({
        restarted: ['app-01', 'app-02'],
        healthy: ['app-01'],
        haltedAt: 'app-02',
      });

      const v = await mod.verify(ctx, args, plan, outcome);
      expect(v.ok).toBe(false);
      expect(v.detail).toContain('app-02: qnwis is not running (MainPID 0)');
      expect(v.detail).toContain(`app-03 was not restarted (MainPID ${before['app-03']})`);
      // The load balancer still serves from app-01 and app-03.
      expect(v.detail).not.toContain('load balancer');
    } finally {
      await faults.heal('down');
    }
    await allHealthy(20_000);
  }, 90_000);
});
