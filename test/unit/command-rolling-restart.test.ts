/**
 * rolling-restart without hosts: the plan (order, per-host health gates through the host and the
 * load balancer, "1 of 3 app hosts at a time"), the run on a fake clock (30 s waits and 60 s gates
 * cost no real time), halting at the first host that does not come back healthy with the later
 * hosts never touched, Cancel during a wait, and the precheck's capacity rule. A fake fleet stands
 * in for SSH and HTTP: it records what would be sent and answers like the hosts would.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SshExitError, SshUnreachableError } from '../../src/errors.js';
import { canonicalJson, planHash } from '../../src/incidents/approvals.js';
import { type Host, parseInventory } from '../../src/inventory.js';
import type { HealthResult } from '../../src/ops/adapters/http.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import { type CommandArgs, parseCommand, requestFacts } from '../../src/ops/commands/catalog.js';
import {
  type CommandContext,
  type CommandPlan,
  commandModule,
  createCommandContext,
  createRollingRestartCommand,
  PlanRefusedError,
  type RollingRestartOptions,
  rollingRestart,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { loadBalancerHealthUrl } from '../../src/ops/commands/rolling-restart.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const INVENTORY_YAML = readFileSync('lab/inventory.yaml', 'utf8');
const inventory = parseInventory(INVENTORY_YAML, 'lab/inventory.yaml');
const LB = 'http://127.0.4.1:8080/health';
const URL_OF: Record<string, string> = {
  'app-01': 'http://127.0.1.1:8000/health',
  'app-02': 'http://127.0.1.2:8000/health',
  'app-03': 'http://127.0.1.3:8000/health',
};

function args(raw: unknown): CommandArgs['rolling-restart'] {
  const r = parseCommand('rolling-restart', raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs['rolling-restart'];
}

/** A clock that only moves when someone sleeps on it. */
function fakeClock(start = Date.parse('2026-03-01T10:00:00.000Z'), onSleep: (ms: number) => void = () => {}) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => new Date(t),
    /** Like realSleep: returns at once (without the time passing) when the signal is aborted. */
    sleep: async (ms: number, signal?: AbortSignal) => {
      sleeps.push(ms);
      onSleep(ms);
      if (!signal?.aborted) t += Math.max(0, ms);
    },
    elapsedMs: () => t - start,
    sleeps,
  };
}

const healthy = (): HealthResult => ({ ok: true, status: 200, latencyMs: 3, body: { status: 'healthy' } });
const refused = (url: string): HealthResult => ({
  ok: false,
  status: null,
  latencyMs: 1,
  error: { code: 'http_unreachable', message: `${url} is unreachable: ECONNREFUSED` },
});

/**
 * Three app hosts and a load balancer: MainPIDs that change on restart, /health that answers while
 * a host is up. `afterRestart` may break a host the moment its restart returns (it never comes
 * back); `onSend` sees every command before it is answered.
 */
class FakeFleet implements RemoteCommandRunner {
  readonly sent: string[] = [];
  readonly pids = new Map<string, number>([
    ['app-01', 1101],
    ['app-02', 1202],
    ['app-03', 1303],
  ]);
  readonly down = new Set<string>();
  lbDown = false;
  unreachable = new Set<string>();
  afterRestart: (host: string) => void = () => {};
  restartFails = new Set<string>();
  probes: string[] = [];

  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    renderRemoteCommand(command, a);
    if (this.unreachable.has(host.name))
      throw new SshUnreachableError(host.name, `cannot connect to ${host.address}:2222: ECONNREFUSED`);
    this.sent.push(`${host.name} ${command.name}`);
    const result = (stdout: string, exitCode = 0): RemoteCommandResult => ({
      host: host.name,
      command: command.name,
      exitCode,
      signal: null,
      stdout,
      stderr: '',
      truncated: false,
      durationMs: 1,
    });
    switch (command.name) {
      case 'service-main-pid':
        return result(`${this.down.has(host.name) ? 0 : (this.pids.get(host.name) ?? 0)}\n`);
      case 'service-restart': {
        if (this.restartFails.has(host.name))
          throw new SshExitError(host.name, command.name, 1, null, 'Job for qnwis.service failed.');
        this.pids.set(host.name, (this.pids.get(host.name) ?? 0) + 10_000);
        this.down.delete(host.name);
        this.afterRestart(host.name);
        return result('');
      }
      case 'service-is-active':
        return this.down.has(host.name) ? result('inactive\n', 3) : result('active\n');
      default:
        return result('');
    }
  }

  probe = async (url: string): Promise<HealthResult> => {
    this.probes.push(url);
    if (url === LB) return this.lbDown ? { ok: false, status: 502, latencyMs: 1 } : healthy();
    const host = Object.entries(URL_OF).find(([, u]) => u === url)?.[0];
    if (!host) throw new Error(`unexpected probe of ${url}`);
    return this.down.has(host) ? refused(url) : healthy();
  };
}

function context(fleet: FakeFleet, clock = fakeClock(), inv = inventory) {
  const ctx: CommandContext = createCommandContext(
    createDiagnosticContext({
      inventory: inv,
      ssh: fleet,
      db: {} as FleetDatabase,
      cache: {} as FleetCache,
      adminToken: undefined,
      stepTimeoutMs: 1_000,
      now: clock.now,
    }),
    { sleep: clock.sleep },
  );
  return { ctx, clock };
}

function collect() {
  const progress: StepProgress[] = [];
  const report = async (p: StepProgress) => {
    progress.push(p);
  };
  const lines = () => progress.map((p) => `${p.stepId}:${p.status}`);
  const detail = (line: string) => progress.find((p) => `${p.stepId}:${p.status}` === line)?.detail;
  return { progress, report, lines, detail };
}

const never = () => new AbortController().signal;

describe('rolling-restart plan', () => {
  it('is registered under its catalog name', () => {
    expect(commandModule('rolling-restart')).toBe(rollingRestart);
  });

  it('every app host in inventory order by default: per host MainPID, restart, wait + gate; 1 of 3 at a time', async () => {
    const { ctx } = context(new FakeFleet());
    const a = args({});
    expect(a).toEqual({ hosts: ['app-01', 'app-02', 'app-03'], waitSec: 30 });
    const plan = await rollingRestart.plan(ctx, a);
    expect(plan.summary).toBe('rolling-restart app-01 → app-02 → app-03 (wait 30 s)');
    expect(plan.blastRadius).toBe(
      '1 of 3 app hosts at a time, 3 in all, in this order: app-01 → app-02 → app-03; ' +
        'the load balancer keeps serving from the other 2',
    );
    expect(plan.steps.map((s) => `${s.id}|${s.kind}|${s.timeoutSec}`)).toEqual([
      'app-01:record-pid|capture|5',
      'app-01:restart|remote-command|60',
      'app-01:health-gate|health-gate|90',
      'app-02:record-pid|capture|5',
      'app-02:restart|remote-command|60',
      'app-02:health-gate|health-gate|90',
      'app-03:record-pid|capture|5',
      'app-03:restart|remote-command|60',
      'app-03:health-gate|health-gate|90',
    ]);
    expect(plan.steps.every((s) => s.host === s.id.split(':')[0])).toBe(true);
    expect(plan.steps[1]?.description).toBe('app-01 (1/3): sudo systemctl restart qnwis');
    expect(plan.steps[2]?.description).toBe(
      "app-01 (1/3): wait 30 s, then GET http://127.0.1.1:8000/health and the load balancer's " +
        'http://127.0.4.1:8080/health must answer 2xx within 60 s (polled every 1 s); else halt before app-02',
    );
    expect(plan.steps[8]?.description).toMatch(/within 60 s \(polled every 1 s\); else report it$/);
    expect(plan.facts).toEqual({
      hosts: ['app-01', 'app-02', 'app-03'].map((h) => ({
        host: h,
        service: 'qnwis',
        unit: 'qnwis',
        healthUrl: URL_OF[h],
      })),
      waitSec: 30,
      loadBalancerUrl: LB,
      appHosts: 3,
      healthGateSec: 60,
      pollIntervalMs: 1000,
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(() => canonicalJson(plan)).not.toThrow();
  });

  it('keeps the order given; the same request hashes the same, another order or wait does not', async () => {
    const fleet = new FakeFleet();
    const { ctx } = context(fleet);
    const hash = async (raw: { hosts: string[]; wait?: string }) => {
      const parsed = parseCommand('rolling-restart', raw, inventory);
      if (!parsed.ok) throw new Error(parsed.error);
      const a = parsed.command.args as CommandArgs['rolling-restart'];
      const p: CommandPlan = await rollingRestart.plan(ctx, a);
      return {
        p,
        h: planHash({
          ...requestFacts(parsed.command, inventory),
          command: 'rolling-restart',
          args: a,
          plan: p,
        }),
      };
    };
    const one = await hash({ hosts: ['app-03', 'app-01'], wait: '45s' });
    expect(one.p.steps.map((s) => s.id).filter((id) => id.endsWith(':restart'))).toEqual([
      'app-03:restart',
      'app-01:restart',
    ]);
    expect(one.p.blastRadius).toBe(
      '1 of 3 app hosts at a time, 2 in all, in this order: app-03 → app-01; the load balancer keeps serving from the other 2',
    );
    expect(one.p.steps[2]?.description).toMatch(/^app-03 \(1\/2\): wait 45 s, .* else halt before app-01$/);
    expect((await hash({ hosts: ['app-03', 'app-01'], wait: '45s' })).h).toBe(one.h);
    expect((await hash({ hosts: ['app-01', 'app-03'], wait: '45s' })).h).not.toBe(one.h);
    expect((await hash({ hosts: ['app-03', 'app-01'], wait: '30s' })).h).not.toBe(one.h);
    // Planning sends nothing anywhere.
    expect(fleet.sent).toEqual([]);
    expect(fleet.probes).toEqual([]);
  });

  it('the load balancer URL: monitoring URL + the lb health path; the lb host without one; refused with neither', () => {
    expect(loadBalancerHealthUrl(inventory)).toBe(LB);
    const withPath = parseInventory(
      INVENTORY_YAML.replace(
        'load_balancer_url: http://127.0.4.1:8080',
        'load_balancer_url: https://api.example/qnwis/',
      ),
      'lab/inventory.yaml',
    );
    expect(loadBalancerHealthUrl(withPath)).toBe('https://api.example/qnwis/health');
    const noMonitoringUrl = parseInventory(
      INVENTORY_YAML.replace(/\n {2}load_balancer_url: .*\n/, '\n'),
      'lab/inventory.yaml',
    );
    expect(loadBalancerHealthUrl(noMonitoringUrl)).toBe('http://127.0.4.1:8080/health');
    const noLb = parseInventory(
      INVENTORY_YAML.replace(/\n {2}load_balancer_url: .*\n/, '\n').replace(
        '    health_url: http://{address}:8080/health\n',
        '',
      ),
      'lab/inventory.yaml',
    );
    expect(() => loadBalancerHealthUrl(noLb)).toThrow(PlanRefusedError);
    expect(() => loadBalancerHealthUrl(noLb)).toThrow(/no load balancer health URL/);
  });

  it('refuses a host that is not an app host', async () => {
    const { ctx } = context(new FakeFleet());
    await expect(rollingRestart.plan(ctx, { hosts: ['app-01', 'redis-01'], waitSec: 30 })).rejects.toThrow(
      'rolling-restart: redis-01 is not an app host (roles: redis)',
    );
  });
});

/** The module with the fake fleet's HTTP probe (the default one would reach the real lab). */
function rr(fleet: FakeFleet, opts: RollingRestartOptions = {}) {
  return createRollingRestartCommand({ probe: fleet.probe, ...opts });
}

describe('rolling-restart run (fake clock)', () => {
  it('one host at a time in the given order, each gated; progress reads "2/3 hosts restarted: ✓ … ✓ … …"', async () => {
    const fleet = new FakeFleet();
    const { ctx, clock } = context(fleet);
    const a = args({ hosts: ['app-02', 'app-01', 'app-03'] });
    const plan = await rr(fleet).plan(ctx, a);
    const { report, lines, detail } = collect();
    const outcome = await rr(fleet).run(ctx, a, plan, report, never());

    expect(outcome.status).toBe('succeeded');
    expect(outcome.detail).toBe('3/3 hosts restarted and healthy, one at a time: app-02 → app-01 → app-03');
    // Exactly what would be sent, in order: each host restarts only after the previous one passed its gate.
    expect(fleet.sent).toEqual([
      'app-02 service-main-pid',
      'app-02 service-restart',
      'app-01 service-main-pid',
      'app-01 service-restart',
      'app-03 service-main-pid',
      'app-03 service-restart',
    ]);
    expect(fleet.probes).toEqual([URL_OF['app-02'], LB, URL_OF['app-01'], LB, URL_OF['app-03'], LB]);
    expect(lines()).toEqual(
      ['app-02', 'app-01', 'app-03'].flatMap((h) =>
        ['record-pid', 'restart', 'health-gate'].flatMap((s) => [`${h}:${s}:running`, `${h}:${s}:done`]),
      ),
    );
    expect(detail('app-02:record-pid:done')).toBe('app-02: qnwis MainPID 1202');
    expect(detail('app-02:restart:done')).toBe(
      '0/3 hosts restarted: ↻ app-02 … app-01 … app-03 — app-02: systemctl restart qnwis returned after 0 ms; ' +
        'waiting 30 s before its health gate',
    );
    expect(detail('app-01:health-gate:done')).toBe(
      '2/3 hosts restarted: ✓ app-02 ✓ app-01 … app-03 — app-01: /health HTTP 200 after 0 ms (attempt 1); ' +
        'load balancer: /health HTTP 200 after 0 ms (attempt 1); next: app-03',
    );
    expect(detail('app-03:health-gate:done')).toMatch(/^3\/3 hosts restarted: ✓ app-02 ✓ app-01 ✓ app-03 — /);
    // The three 30 s waits, on the injected clock.
    expect(clock.sleeps).toEqual([30_000, 30_000, 30_000]);
    expect(clock.elapsedMs()).toBe(90_000);
    expect(outcome.observations).toEqual({
      order: ['app-02', 'app-01', 'app-03'],
      oldMainPids: { 'app-02': 1202, 'app-01': 1101, 'app-03': 1303 },
      restarted: ['app-02', 'app-01', 'app-03'],
      healthy: ['app-02', 'app-01', 'app-03'],
      haltedAt: null,
    });
  });

  it('halts at the first host that does not come back: later hosts are never touched, the outcome says who was done', async () => {
    const fleet = new FakeFleet();
    fleet.afterRestart = (h) => {
      if (h === 'app-02') fleet.down.add('app-02');
    };
    const { ctx, clock } = context(fleet);
    const a = args({ wait: '5s' });
    const plan = await rr(fleet).plan(ctx, a);
    const { report, lines, detail } = collect();
    const outcome = await rr(fleet).run(ctx, a, plan, report, never());

    expect(outcome.status).toBe('failed');
    expect(fleet.sent).toEqual([
      'app-01 service-main-pid',
      'app-01 service-restart',
      'app-02 service-main-pid',
      'app-02 service-restart',
    ]);
    expect(fleet.sent.some((s) => s.startsWith('app-03'))).toBe(false);
    expect(lines().slice(6)).toEqual([
      'app-02:record-pid:running',
      'app-02:record-pid:done',
      'app-02:restart:running',
      'app-02:restart:done',
      'app-02:health-gate:running',
      'app-02:health-gate:failed',
      'app-03:record-pid:skipped',
      'app-03:restart:skipped',
      'app-03:health-gate:skipped',
    ]);
    expect(detail('app-02:health-gate:failed')).toBe(
      '1/3 hosts restarted: ✓ app-01 ✗ app-02 … app-03 — app-02: /health did not pass within 60 s ' +
        '(61 attempts; last: unreachable: ECONNREFUSED)',
    );
    expect(outcome.detail).toBe(
      'halted at app-02 (app-02: /health did not pass within 60 s (61 attempts; last: unreachable: ECONNREFUSED)); ' +
        'restarted and healthy: app-01; restarted but unhealthy: app-02; not touched: app-03',
    );
    expect(outcome.observations).toMatchObject({
      restarted: ['app-01', 'app-02'],
      healthy: ['app-01'],
      haltedAt: 'app-02',
    });
    // 5 s + 5 s waits and the full 60 s gate of app-02, on the fake clock only.
    expect(clock.elapsedMs()).toBe(70_000);
    expect(fleet.pids.get('app-03')).toBe(1303);
  });

  it('halts when the load balancer fails after a host, even though the host itself is healthy', async () => {
    const fleet = new FakeFleet();
    fleet.afterRestart = () => {
      fleet.lbDown = true;
    };
    const { ctx } = context(fleet);
    const mod = rr(fleet, { healthGateSec: 10 });
    const a = args({ wait: '5s' });
    const outcome = await mod.run(ctx, a, await mod.plan(ctx, a), collect().report, never());
    expect(outcome.status).toBe('failed');
    expect(outcome.detail).toBe(
      'halted at app-01 (after restarting app-01, load balancer: /health did not pass within 10 s ' +
        '(11 attempts; last: HTTP 502)); restarted and healthy: none; restarted but unhealthy: app-01; ' +
        'not touched: app-02, app-03',
    );
    expect(fleet.sent).toEqual(['app-01 service-main-pid', 'app-01 service-restart']);
  });

  it('a restart that errors halts the run and is reported as not confirmed', async () => {
    const fleet = new FakeFleet();
    fleet.restartFails.add('app-02');
    const { ctx } = context(fleet);
    const a = args({ wait: '5s' });
    const { report, detail } = collect();
    const outcome = await rr(fleet).run(ctx, a, await rr(fleet).plan(ctx, a), report, never());
    expect(outcome.status).toBe('failed');
    expect(detail('app-02:restart:failed')).toBe(
      '1/3 hosts restarted: ✓ app-01 ✗ app-02 … app-03 — app-02: command "service-restart" on host "app-02" ' +
        'exited 1: Job for qnwis.service failed.',
    );
    expect(outcome.detail).toMatch(
      /; restarted and healthy: app-01; restart not confirmed \(check it\): app-02; not touched: app-03$/,
    );
  });

  it('Cancel right after app-02 restarted: its gate never starts, app-03 is never touched', async () => {
    const fleet = new FakeFleet();
    const cancel = new AbortController();
    const clock = fakeClock();
    const { ctx } = context(fleet, clock);
    const a = args({});
    const mod = rr(fleet);
    const plan = await mod.plan(ctx, a);
    const { report, lines } = collect();
    const outcome = await mod.run(
      ctx,
      a,
      plan,
      async (p) => {
        await report(p);
        if (p.stepId === 'app-02:restart' && p.status === 'done') cancel.abort();
      },
      cancel.signal,
    );
    expect(outcome.status).toBe('cancelled');
    expect(lines().slice(-4)).toEqual([
      'app-02:health-gate:skipped',
      'app-03:record-pid:skipped',
      'app-03:restart:skipped',
      'app-03:health-gate:skipped',
    ]);
    expect(outcome.detail).toBe(
      'cancelled at app-02 (cancelled before its health gate); restarted and healthy: app-01; ' +
        'restarted, health not checked: app-02; not touched: app-03',
    );
    expect(fleet.sent.some((s) => s.startsWith('app-03'))).toBe(false);
    expect(clock.elapsedMs()).toBe(30_000);
  });

  it('Cancel during the wait after app-02: the wait ends at once, app-03 is never touched', async () => {
    const fleet = new FakeFleet();
    const cancel = new AbortController();
    let waits = 0;
    const clock = fakeClock(undefined, (ms) => {
      if (ms === 30_000 && ++waits === 2) cancel.abort();
    });
    const { ctx } = context(fleet, clock);
    const a = args({});
    const mod = rr(fleet);
    const { report, detail } = collect();
    const outcome = await mod.run(ctx, a, await mod.plan(ctx, a), report, cancel.signal);
    expect(outcome.status).toBe('cancelled');
    expect(detail('app-02:health-gate:skipped')).toBe(
      '1/3 hosts restarted: ✓ app-01 ↻ app-02 … app-03 — cancelled while waiting 30 s after restarting app-02 ' +
        '(the restart itself had already run)',
    );
    expect(outcome.detail).toBe(
      'cancelled at app-02 (cancelled while waiting 30 s after restarting app-02 (the restart itself had already run)); ' +
        'restarted and healthy: app-01; restarted, health not checked: app-02; not touched: app-03',
    );
    expect(fleet.sent.some((s) => s.startsWith('app-03'))).toBe(false);
    // app-01's full wait; app-02's wait returned at once and no gate probe followed it.
    expect(clock.elapsedMs()).toBe(30_000);
    expect(fleet.probes).toEqual([URL_OF['app-01'], LB]);
  });
});

describe('rolling-restart precheck', () => {
  it('all healthy and reachable: ok', async () => {
    const fleet = new FakeFleet();
    const { ctx } = context(fleet);
    const a = args({});
    const pre = await rr(fleet).precheck(ctx, a, await rr(fleet).plan(ctx, a));
    expect(pre).toEqual({
      ok: true,
      detail: 'app-01, app-02, app-03 answer over SSH; 3 of 3 app hosts and the load balancer are healthy',
    });
    // It only looked: no restart was sent.
    expect(fleet.sent.every((s) => s.endsWith('service-is-active') || s.endsWith('service-journal'))).toBe(
      true,
    );
  });

  it('refuses while another app host is already unhealthy, and says which', async () => {
    const fleet = new FakeFleet();
    fleet.down.add('app-02');
    const { ctx } = context(fleet);
    const a = args({ hosts: ['app-01', 'app-02', 'app-03'] });
    expect(await rr(fleet).precheck(ctx, a, await rr(fleet).plan(ctx, a))).toEqual({
      ok: false,
      reason:
        'app-02 (/health: unreachable: ECONNREFUSED) is unhealthy already: restarting app-01 now would leave ' +
        '1 of 3 app hosts serving. Fix app-02 first, or restart it first (app-02 at the head of the order)',
    });
    // A host outside the plan counts too: capacity is the fleet's.
    const only1 = args({ hosts: ['app-01'] });
    const pre = await rr(fleet).precheck(ctx, only1, await rr(fleet).plan(ctx, only1));
    expect(pre).toEqual({
      ok: false,
      reason:
        'app-02 (/health: unreachable: ECONNREFUSED) is unhealthy already: restarting app-01 now would leave ' +
        '1 of 3 app hosts serving. Fix app-02 first',
    });
  });

  it('an unhealthy host first in the order is fine: restarting it is the fix', async () => {
    const fleet = new FakeFleet();
    fleet.down.add('app-02');
    const { ctx } = context(fleet);
    const a = args({ hosts: ['app-02', 'app-01'] });
    expect(await rr(fleet).precheck(ctx, a, await rr(fleet).plan(ctx, a))).toEqual({
      ok: true,
      detail:
        'app-02, app-01 answer over SSH; 2 of 3 app hosts and the load balancer are healthy; ' +
        'app-02 is unhealthy now, and restarting it first is the fix',
    });
  });

  it('refuses an unreachable host and a failing load balancer', async () => {
    const fleet = new FakeFleet();
    fleet.unreachable.add('app-03');
    const { ctx } = context(fleet);
    const a = args({});
    const plan = await rr(fleet).plan(ctx, a);
    const pre = await rr(fleet).precheck(ctx, a, plan);
    expect(pre.ok).toBe(false);
    expect(!pre.ok && pre.reason).toMatch(
      /^app-03 cannot be reached: app-03: service-status — not reachable over SSH/,
    );

    const lbFleet = new FakeFleet();
    lbFleet.lbDown = true;
    const c2 = context(lbFleet).ctx;
    expect(await rr(lbFleet).precheck(c2, a, plan)).toEqual({
      ok: false,
      reason:
        "the load balancer's http://127.0.4.1:8080/health fails before anything was restarted (HTTP 502): " +
        'every health gate would fail; fix the load balancer first',
    });
  });

  it('refuses a plan for another request or another inventory', async () => {
    const fleet = new FakeFleet();
    const { ctx } = context(fleet);
    const a = args({});
    const plan = await rr(fleet).plan(ctx, a);
    expect(await rr(fleet).precheck(ctx, { ...a, hosts: ['app-03', 'app-02', 'app-01'] }, plan)).toEqual({
      ok: false,
      reason:
        'the plan is for app-01 → app-02 → app-03 (wait 30 s), the request for app-03 → app-02 → app-01 (wait 30 s)',
    });
    const moved = parseInventory(
      INVENTORY_YAML.replace('app-03: { address: 127.0.1.3', 'app-03: { address: 127.0.1.9'),
      'lab/inventory.yaml',
    );
    expect(await rr(fleet).precheck(context(fleet, fakeClock(), moved).ctx, a, plan)).toEqual({
      ok: false,
      reason:
        'the inventory changed since the plan (app-03: qnwis/qnwis at http://127.0.1.3:8000/health → ' +
        'qnwis/qnwis at http://127.0.1.9:8000/health): plan again',
    });
  });
});
