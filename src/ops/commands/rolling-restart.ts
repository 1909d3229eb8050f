/**
 * `rolling-restart [HOSTS] [--wait 30s]` — runbook "Restarting Services", rolling restart: one app
 * host at a time, in the order given, `sudo systemctl restart qnwis`, wait, then check the host and
 * the load balancer; halt at the first host that does not come back healthy.
 *
 * - plan: per host, in order: record the MainPID, restart, then a health gate (wait `waitSec` on
 *   the context's clock, then the host's own /health and the load balancer's must answer 2xx within
 *   the gate). The load balancer's URL is `monitoring.load_balancer_url` plus the lb service's
 *   health path (the runbook's `curl https://api…/health`). Blast radius: 1 app host at a time.
 * - precheck: the plan still matches the inventory; every host to restart answers over SSH; no
 *   *other* app host is unhealthy (restarting one while capacity is already reduced may leave too
 *   few serving; an unhealthy host first in the order is fine: restarting it is the fix); the load
 *   balancer is healthy (otherwise the first gate would halt the run after one restart).
 * - run: the steps in order; a failed step halts the run and the rest are skipped, so the outcome
 *   names exactly which hosts were restarted, which one halted it and which were never touched.
 *   Cancel stops between steps and during the wait and the gates.
 * - verify: every host restarted runs a new MainPID and passes the `health` diagnostic; the load
 *   balancer answers 2xx; hosts the run never reached are named.
 */
import { type Host, hostsWithRole, type Inventory, serviceUrl } from '../../inventory.js';
import { formatDuration, oneLine } from '../diagnostics/common.js';
import type { HealthData } from '../diagnostics/health.js';
import { runDiagnostics } from '../diagnostics/index.js';
import type { ServiceStatusData } from '../diagnostics/service-status.js';
import { serviceMainPid, serviceRestart } from '../host-commands.js';
import type { CommandArgs } from './catalog.js';
import {
  appHost,
  DEFAULT_HEALTH_GATE_SEC,
  DEFAULT_HEALTH_POLL_MS,
  defaultProbe,
  derive,
  describeProbe,
  type HealthProbe,
  healthGate,
  parseMainPid,
} from './restart.js';
import { errorText, runSteps, type StepHandler, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandOutcome,
  type CommandPlan,
  type JsonObject,
  PlanRefusedError,
  type PlanStep,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type RollingRestartArgs = CommandArgs['rolling-restart'];

export type RollingRestartTarget = {
  readonly host: string;
  /** Inventory service restarted (the one with a health URL on app hosts: qnwis). */
  readonly service: string;
  readonly unit: string;
  readonly healthUrl: string;
};

export type RollingRestartFacts = {
  /** In restart order. */
  readonly hosts: readonly RollingRestartTarget[];
  readonly waitSec: number;
  /** The load balancer's health URL, checked after every host. */
  readonly loadBalancerUrl: string;
  /** App hosts in the inventory (the blast radius is 1 of them at a time). */
  readonly appHosts: number;
  /** How long, after the wait, the host's and then the load balancer's /health have to pass. */
  readonly healthGateSec: number;
  readonly pollIntervalMs: number;
};

export type RollingRestartPlan = CommandPlan<RollingRestartFacts>;

export interface RollingRestartOptions {
  /** Seconds the host's and the load balancer's /health have, together, after the wait (default 60). */
  readonly healthGateSec?: number;
  /** Pause between health probes (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** Default: `checkHealth` (global fetch). */
  readonly probe?: HealthProbe;
}

const NAME = 'rolling-restart';
/** Where a Cancel between steps left a host, by the step that never ran. */
const BEFORE_STEP: Readonly<Record<string, string>> = {
  'record-pid': 'before it was touched',
  restart: 'before its restart',
  'health-gate': 'before its health gate',
};
const LB_LABEL = 'load balancer';
export const ROLLING_STEP_KINDS = ['record-pid', 'restart', 'health-gate'] as const;

/** `app-02:restart`: step ids carry their host, so they stay unique within the plan. */
export function rollingStepId(host: string, step: (typeof ROLLING_STEP_KINDS)[number]): string {
  return `${host}:${step}`;
}

/**
 * The load balancer's health URL: `monitoring.load_balancer_url` plus the health path of the lb
 * service (else of the app's health service, which the load balancer proxies); without a
 * monitoring URL, the lb service's own URL on the lb host. Refuses to plan when there is none.
 */
export function loadBalancerHealthUrl(inv: Inventory): string {
  const [lbHost] = hostsWithRole(inv, 'lb');
  const services = [...inv.services.values()];
  const lbService = services.find((s) => s.roles.includes('lb') && s.healthUrl !== undefined);
  const appService = services.find((s) => s.roles.includes('app') && s.healthUrl !== undefined);
  const base = inv.monitoring.loadBalancerUrl;
  if (base !== undefined) {
    const template = lbService?.healthUrl ?? appService?.healthUrl;
    if (template === undefined) return `${base.replace(/\/+$/, '')}/health`;
    const u = new URL(template.replaceAll('{address}', 'host.invalid'));
    // Appended, not resolved: a base with a path (https://api.example/qnwis) keeps it.
    return `${base.replace(/\/+$/, '')}${u.pathname}${u.search}`;
  }
  if (lbHost && lbService?.healthUrl) return serviceUrl(lbService.healthUrl, lbHost);
  throw new PlanRefusedError(
    NAME,
    'the inventory has no load balancer health URL (monitoring.load_balancer_url, or an lb service with a health_url): the health gate could not check it',
  );
}

function target(inv: Inventory, name: string): RollingRestartTarget | string {
  const host = appHost(inv, name);
  if (typeof host === 'string') return host;
  try {
    return { host: host.name, ...derive(inv, host) };
  } catch (err) {
    return errorText(err);
  }
}

function sameTarget(a: RollingRestartTarget, b: RollingRestartTarget): boolean {
  return a.host === b.host && a.service === b.service && a.unit === b.unit && a.healthUrl === b.healthUrl;
}

/** Where each host of the run stands; drives the progress lines and the outcome. */
type HostState = 'pending' | 'restarted' | 'healthy' | 'unhealthy' | 'failed';

/** "2/3 hosts restarted: ✓ app-01 ✓ app-02 … app-03" (✗ marks the host that halted the run). */
export function tally(order: readonly string[], state: ReadonlyMap<string, HostState>): string {
  const healthy = order.filter((h) => state.get(h) === 'healthy').length;
  const marks = order.map((h) => {
    const s = state.get(h) ?? 'pending';
    if (s === 'healthy') return `✓ ${h}`;
    if (s === 'unhealthy' || s === 'failed') return `✗ ${h}`;
    if (s === 'restarted') return `↻ ${h}`;
    return `… ${h}`;
  });
  return `${healthy}/${order.length} host${order.length === 1 ? '' : 's'} restarted: ${marks.join(' ')}`;
}

function list(hosts: readonly string[]): string {
  return hosts.length === 0 ? 'none' : hosts.join(', ');
}

/** One line for the outcome: which hosts were restarted, where it stopped, which were not touched. */
function outcomeDetail(
  order: readonly string[],
  state: ReadonlyMap<string, HostState>,
  status: CommandOutcome['status'],
  stoppedAt: { host: string; why: string } | undefined,
): string {
  const inState = (...s: HostState[]) => order.filter((h) => s.includes(state.get(h) ?? 'pending'));
  const healthy = inState('healthy');
  if (status === 'succeeded') {
    return `${healthy.length}/${order.length} hosts restarted and healthy, one at a time: ${order.join(' → ')}`;
  }
  const parts = [`restarted and healthy: ${list(healthy)}`];
  const unhealthy = inState('unhealthy');
  if (unhealthy.length > 0) parts.push(`restarted but unhealthy: ${list(unhealthy)}`);
  const restarted = inState('restarted');
  if (restarted.length > 0) parts.push(`restarted, health not checked: ${list(restarted)}`);
  const failed = inState('failed');
  if (failed.length > 0) parts.push(`restart not confirmed (check it): ${list(failed)}`);
  parts.push(`not touched: ${list(inState('pending'))}`);
  const where = stoppedAt ? ` at ${stoppedAt.host} (${stoppedAt.why})` : '';
  return oneLine(`${status === 'failed' ? 'halted' : 'cancelled'}${where}; ${parts.join('; ')}`, 600);
}

export function createRollingRestartCommand(
  opts: RollingRestartOptions = {},
): CommandModule<RollingRestartArgs, RollingRestartFacts> {
  const healthGateSec = opts.healthGateSec ?? DEFAULT_HEALTH_GATE_SEC;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_HEALTH_POLL_MS;
  const probe = opts.probe ?? defaultProbe;
  if (!Number.isInteger(healthGateSec) || healthGateSec < 1 || healthGateSec > 3600)
    throw new RangeError('healthGateSec must be a whole number of seconds, 1..3600');
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10 || pollIntervalMs > 60_000)
    throw new RangeError('pollIntervalMs must be 10..60000');

  /** One GET of every URL at once: url → result. */
  async function probeAll(ctx: CommandContext, urls: readonly string[]) {
    const timeoutMs = Math.max(250, ctx.stepTimeoutMs);
    const results = await Promise.all(urls.map((u) => probe(u, { timeoutMs })));
    return new Map(urls.map((u, i) => [u, results[i]]));
  }

  return {
    name: NAME,

    async plan(ctx, args) {
      if (args.hosts.length === 0) throw new PlanRefusedError(NAME, 'no hosts to restart');
      const hosts: RollingRestartTarget[] = [];
      for (const name of args.hosts) {
        const t = target(ctx.inventory, name);
        if (typeof t === 'string') throw new PlanRefusedError(NAME, t);
        hosts.push(t);
      }
      const loadBalancerUrl = loadBalancerHealthUrl(ctx.inventory);
      const appHosts = hostsWithRole(ctx.inventory, 'app').length;
      const n = hosts.length;
      const steps: PlanStep[] = hosts.flatMap((t, i): PlanStep[] => [
        {
          id: rollingStepId(t.host, 'record-pid'),
          host: t.host,
          kind: 'capture',
          description: `${t.host} (${i + 1}/${n}): record the MainPID of ${t.unit} (systemctl show -p MainPID --value ${t.unit})`,
          timeoutSec: serviceMainPid.timeoutSec,
        },
        {
          id: rollingStepId(t.host, 'restart'),
          host: t.host,
          kind: 'remote-command',
          description: `${t.host} (${i + 1}/${n}): sudo systemctl restart ${t.unit}`,
          timeoutSec: serviceRestart.timeoutSec,
        },
        {
          id: rollingStepId(t.host, 'health-gate'),
          host: t.host,
          kind: 'health-gate',
          description:
            `${t.host} (${i + 1}/${n}): wait ${args.waitSec} s, then GET ${t.healthUrl} and the load balancer's ` +
            `${loadBalancerUrl} must answer 2xx within ${healthGateSec} s (polled every ${formatDuration(pollIntervalMs)}); ` +
            (i + 1 < n ? `else halt before ${hosts[i + 1]?.host}` : 'else report it'),
          timeoutSec: args.waitSec + healthGateSec,
        },
      ]);
      const others = appHosts - 1;
      return {
        command: NAME,
        summary: `rolling-restart ${hosts.map((t) => t.host).join(' → ')} (wait ${args.waitSec} s)`,
        steps,
        blastRadius:
          `1 of ${appHosts} app host${appHosts === 1 ? '' : 's'} at a time, ${n} in all, in this order: ` +
          `${hosts.map((t) => t.host).join(' → ')}; the load balancer keeps serving from the other ${others}`,
        facts: { hosts, waitSec: args.waitSec, loadBalancerUrl, appHosts, healthGateSec, pollIntervalMs },
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      const order = f.hosts.map((t) => t.host);
      if (order.join(',') !== args.hosts.join(',') || f.waitSec !== args.waitSec) {
        return {
          ok: false,
          reason: `the plan is for ${order.join(' → ')} (wait ${f.waitSec} s), the request for ${args.hosts.join(' → ')} (wait ${args.waitSec} s)`,
        };
      }
      for (const planned of f.hosts) {
        const now = target(ctx.inventory, planned.host);
        if (typeof now === 'string') return { ok: false, reason: now };
        if (!sameTarget(now, planned)) {
          return {
            ok: false,
            reason:
              `the inventory changed since the plan (${planned.host}: ${planned.service}/${planned.unit} at ` +
              `${planned.healthUrl} → ${now.service}/${now.unit} at ${now.healthUrl}): plan again`,
          };
        }
      }
      let lbNow: string;
      try {
        lbNow = loadBalancerHealthUrl(ctx.inventory);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      if (lbNow !== f.loadBalancerUrl) {
        return {
          ok: false,
          reason: `the inventory changed since the plan (load balancer ${f.loadBalancerUrl} → ${lbNow}): plan again`,
        };
      }

      // Every app host's health, not only the planned ones: capacity is the whole fleet's.
      const apps = hostsWithRole(ctx.inventory, 'app').map((h) => target(ctx.inventory, h.name));
      const appUrls = apps.filter((t): t is RollingRestartTarget => typeof t !== 'string');
      const [statuses, health] = await Promise.all([
        runDiagnostics(
          ctx,
          f.hosts.map((t) => ({
            diagnostic: 'service-status',
            target: t.host,
            input: { service: t.service },
          })),
        ),
        probeAll(ctx, [...appUrls.map((t) => t.healthUrl), f.loadBalancerUrl]),
      ]);
      for (const [i, t] of f.hosts.entries()) {
        const status = statuses[i];
        const data = status?.data as ServiceStatusData | undefined;
        if (!status || !data)
          return {
            ok: false,
            reason: `${t.host} cannot be reached: ${status?.summary ?? 'service-status gave no result'}`,
          };
        if (data.exitCode === 4)
          return { ok: false, reason: `${t.host} has no unit ${t.unit} (systemctl exit 4)` };
      }
      const unhealthy = appUrls
        .map((t) => ({ host: t.host, r: health.get(t.healthUrl) }))
        .filter((x) => !x.r?.ok)
        .map((x) => ({ host: x.host, why: x.r ? describeProbe(x.r) : 'no answer' }));
      const first = order[0];
      const blocking = unhealthy.filter((u) => u.host !== first);
      if (blocking.length > 0) {
        const serving = f.appHosts - unhealthy.length - (unhealthy.some((u) => u.host === first) ? 0 : 1);
        const which = blocking.map((u) => `${u.host} (/health: ${u.why})`).join(', ');
        const verb = blocking.length === 1 ? 'is' : 'are';
        return {
          ok: false,
          reason: oneLine(
            `${which} ${verb} unhealthy already: restarting ${first} now would leave ${serving} of ${f.appHosts} ` +
              `app hosts serving. Fix ${blocking.map((u) => u.host).join(', ')} first` +
              (blocking.length === 1 && order.includes(blocking[0]?.host ?? '')
                ? `, or restart it first (${blocking[0]?.host} at the head of the order)`
                : ''),
            600,
          ),
        };
      }
      const lb = health.get(f.loadBalancerUrl);
      if (!lb?.ok) {
        return {
          ok: false,
          reason:
            `the load balancer's ${f.loadBalancerUrl} fails before anything was restarted ` +
            `(${lb ? describeProbe(lb) : 'no answer'}): every health gate would fail; fix the load balancer first`,
        };
      }
      const firstNote =
        unhealthy.length > 0 ? `; ${first} is unhealthy now, and restarting it first is the fix` : '';
      return {
        ok: true,
        detail:
          `${order.join(', ')} answer over SSH; ` +
          `${f.appHosts - unhealthy.length} of ${f.appHosts} app hosts and the load balancer are healthy${firstNote}`,
      };
    },

    async run(ctx, args, plan, report, signal) {
      const f = plan.facts;
      const order = f.hosts.map((t) => t.host);
      const state = new Map<string, HostState>(order.map((h) => [h, 'pending']));
      const oldMainPids: Record<string, number> = {};
      let stoppedAt: { host: string; why: string } | undefined;
      const host = (name: string): Host => {
        const h = appHost(ctx.inventory, name);
        if (typeof h === 'string') throw new PlanRefusedError(NAME, h);
        return h;
      };
      const line = (text: string) => oneLine(`${tally(order, state)} — ${text}`, 600);

      /** A failed or cancelled step is where the run stopped; the state says what it means. */
      const guarded = (
        t: RollingRestartTarget,
        onFail: HostState | undefined,
        handler: StepHandler,
      ): StepHandler => {
        return async (s) => {
          let r: StepResult;
          try {
            r = await handler(s);
          } catch (err) {
            r = { status: 'failed', detail: `${t.host}: ${errorText(err)}` };
          }
          if (r.status === 'done') return r;
          if (r.status === 'failed' && onFail) state.set(t.host, onFail);
          stoppedAt = { host: t.host, why: r.detail };
          return { status: r.status, detail: line(r.detail) };
        };
      };

      const handlers: Record<string, StepHandler> = {};
      for (const [i, t] of f.hosts.entries()) {
        const next = f.hosts[i + 1]?.host;
        handlers[rollingStepId(t.host, 'record-pid')] = guarded(t, undefined, async () => {
          const r = await ctx.ssh.run(host(t.host), serviceMainPid, { unit: t.unit });
          const pid = parseMainPid(r.stdout);
          if (pid === undefined)
            return {
              status: 'failed',
              detail: `${t.host}: unexpected MainPID output: ${oneLine(r.stdout, 80)}`,
            };
          oldMainPids[t.host] = pid;
          return {
            status: 'done',
            detail: `${t.host}: ${pid === 0 ? `${t.unit} is not running (MainPID 0)` : `${t.unit} MainPID ${pid}`}`,
          };
        });
        // A restart that errored may or may not have happened: its host is "not confirmed".
        handlers[rollingStepId(t.host, 'restart')] = guarded(t, 'failed', async () => {
          const started = ctx.now().getTime();
          await ctx.ssh.run(host(t.host), serviceRestart, { unit: t.unit });
          state.set(t.host, 'restarted');
          return {
            status: 'done',
            detail: line(
              `${t.host}: systemctl restart ${t.unit} returned after ${formatDuration(ctx.now().getTime() - started)}; ` +
                `waiting ${args.waitSec} s before its health gate`,
            ),
          };
        });
        handlers[rollingStepId(t.host, 'health-gate')] = guarded(t, 'unhealthy', async (s) => {
          await ctx.sleep(f.waitSec * 1000, s);
          if (s.aborted) {
            return {
              status: 'cancelled',
              detail: `cancelled while waiting ${f.waitSec} s after restarting ${t.host} (the restart itself had already run)`,
            };
          }
          const gateStarted = ctx.now().getTime();
          const own = await healthGate(
            ctx,
            probe,
            {
              host: t.host,
              healthUrl: t.healthUrl,
              healthGateSec: f.healthGateSec,
              pollIntervalMs: f.pollIntervalMs,
            },
            s,
          );
          if (own.status !== 'done') return own;
          // The load balancer has what is left of the same gate (at least 1 s).
          const leftSec = Math.max(
            1,
            Math.ceil(f.healthGateSec - (ctx.now().getTime() - gateStarted) / 1000),
          );
          const lb = await healthGate(
            ctx,
            probe,
            {
              host: LB_LABEL,
              healthUrl: f.loadBalancerUrl,
              healthGateSec: leftSec,
              pollIntervalMs: f.pollIntervalMs,
            },
            s,
          );
          if (lb.status !== 'done')
            return { status: lb.status, detail: `after restarting ${t.host}, ${lb.detail}` };
          state.set(t.host, 'healthy');
          return {
            status: 'done',
            detail: line(`${own.detail}; ${lb.detail}${next ? `; next: ${next}` : ''}`),
          };
        });
      }

      const outcome = await runSteps({
        plan,
        report,
        signal,
        handlers,
        observations: (): JsonObject => ({
          order,
          oldMainPids,
          restarted: order.filter((h) => ['restarted', 'healthy', 'unhealthy'].includes(state.get(h) ?? '')),
          healthy: order.filter((h) => state.get(h) === 'healthy'),
          haltedAt: stoppedAt?.host ?? null,
        }),
      });
      if (outcome.status === 'cancelled' && !stoppedAt) {
        // Cancelled between steps: the first step never run says where it stopped.
        const next = outcome.steps.find((r) => r.status === 'skipped')?.stepId;
        const [at, step] = next?.split(':') ?? [];
        if (at) stoppedAt = { host: at, why: `cancelled ${BEFORE_STEP[step ?? ''] ?? 'between steps'}` };
      }
      return { ...outcome, detail: outcomeDetail(order, state, outcome.status, stoppedAt) };
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const obs = outcome.observations;
      const oldPids = (obs.oldMainPids ?? {}) as Readonly<Record<string, unknown>>;
      const restarted = new Set(Array.isArray(obs.restarted) ? (obs.restarted as unknown[]) : []);
      const readPid = async (t: RollingRestartTarget): Promise<number | string> => {
        const h = appHost(ctx.inventory, t.host);
        if (typeof h === 'string') return h;
        try {
          const pid = parseMainPid((await ctx.ssh.run(h, serviceMainPid, { unit: t.unit })).stdout);
          return pid ?? 'unexpected MainPID output';
        } catch (err) {
          return errorText(err);
        }
      };
      const [pids, results, lb] = await Promise.all([
        Promise.all(f.hosts.map(readPid)),
        runDiagnostics(
          ctx,
          f.hosts.map((t) => ({ diagnostic: 'health', target: t.host, input: { service: t.service } })),
        ),
        probeAll(ctx, [f.loadBalancerUrl]).then((m) => m.get(f.loadBalancerUrl)),
      ]);

      const problems: string[] = [];
      const before: string[] = [];
      const after: string[] = [];
      const replaced: string[] = [];
      for (const [i, t] of f.hosts.entries()) {
        const old = oldPids[t.host];
        const oldPid = typeof old === 'number' ? old : undefined;
        const pid = pids[i];
        const health = results[i];
        before.push(`${t.host} ${oldPid === undefined ? 'not recorded' : oldPid}`);
        const probed = (health?.data as HealthData | undefined)?.health;
        const healthText = !health
          ? 'no health result'
          : health.status === 'ok'
            ? `healthy${probed ? ` (/health ${probed.httpStatus})` : ''}`
            : `health ${health.status}`;
        after.push(`${t.host} ${typeof pid === 'number' ? pid : 'MainPID unknown'} ${healthText}`);
        if (!restarted.has(t.host)) {
          const still = typeof pid === 'number' && oldPid !== undefined && pid === oldPid;
          problems.push(
            `${t.host} was not restarted${typeof pid === 'number' ? ` (MainPID ${still ? 'still ' : ''}${pid})` : ''}`,
          );
          continue;
        }
        if (typeof pid === 'string') problems.push(`${t.host}: MainPID could not be read: ${pid}`);
        else if (pid === 0) problems.push(`${t.host}: ${t.unit} is not running (MainPID 0)`);
        else if (oldPid === undefined)
          problems.push(`${t.host}: the MainPID before the restart was not recorded`);
        else if (pid === oldPid)
          problems.push(`${t.host}: MainPID is still ${oldPid}: the process was not replaced`);
        else replaced.push(`${t.host} ${oldPid} → ${pid}`);
        if (!health) problems.push(`${t.host}: the health diagnostic gave no result`);
        else if (health.status !== 'ok')
          problems.push(`${t.host}: health is ${health.status}: ${health.summary}`);
      }
      const lbText = lb ? describeProbe(lb) : 'no answer';
      if (!lb?.ok) problems.push(`the load balancer's ${f.loadBalancerUrl} fails (${lbText})`);
      const unit = f.hosts[0]?.unit ?? 'qnwis';
      return {
        ok: problems.length === 0,
        before: oneLine(`${unit} MainPID: ${before.join(', ')}`, 500),
        after: oneLine(`${unit} MainPID: ${after.join(', ')}; load balancer ${lbText}`, 500),
        detail:
          problems.length === 0
            ? oneLine(
                `every host runs a new process and is healthy (${replaced.join(', ')}); the load balancer answers ${lbText}`,
                600,
              )
            : oneLine(problems.join('; '), 600),
        evidence: results,
      };
    },
  };
}

/** `rolling-restart` with the default health gate (60 s after each host's wait). */
export const rollingRestart = createRollingRestartCommand();
