/**
 * `restart HOST` — runbook "Restarting Services": `sudo systemctl restart qnwis` on one app host,
 * then its `/health` must pass within the health gate (default 60 s).
 *
 * - plan: record the unit's MainPID, restart it, gate on /health (host, unit, URL and gate come
 *   from the inventory and the module's options; nothing else varies, so the same request plans
 *   the same way and hashes the same).
 * - precheck: the host is still an app host of the inventory, the plan still matches the
 *   inventory, and the host answers over SSH (the `service-status` diagnostic). A stopped unit is
 *   no reason to refuse: restarting it is the fix.
 * - run: MainPID, `systemctl restart`, then poll /health every second until it answers 2xx or the
 *   gate expires (the step fails). Cancel stops between steps and while the gate waits.
 * - verify: a new MainPID (≠ the one recorded before the restart, and not 0) and the `health`
 *   diagnostic ok.
 */
import { type Host, hostsWithRole, type Inventory, type Service, serviceUrl } from '../../inventory.js';
import { checkHealth, type HealthResult } from '../adapters/http.js';
import { formatDuration, oneLine, resolveService } from '../diagnostics/common.js';
import type { HealthData } from '../diagnostics/health.js';
import { runDiagnostics } from '../diagnostics/index.js';
import type { ServiceStatusData } from '../diagnostics/service-status.js';
import { serviceMainPid, serviceRestart } from '../host-commands.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type RestartArgs = CommandArgs['restart'];

export type RestartFacts = {
  readonly host: string;
  /** Inventory service restarted (the one with a health URL on app hosts: qnwis). */
  readonly service: string;
  readonly unit: string;
  readonly healthUrl: string;
  readonly healthGateSec: number;
  readonly pollIntervalMs: number;
};

export type RestartPlan = CommandPlan<RestartFacts>;

/** One GET of a health URL; any outcome is a result (see `checkHealth`). */
export type HealthProbe = (url: string, opts: { readonly timeoutMs: number }) => Promise<HealthResult>;

export interface RestartOptions {
  /** Seconds /health has to pass after the restart (default 60). */
  readonly healthGateSec?: number;
  /** Pause between health probes (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** Default: `checkHealth` (global fetch). */
  readonly probe?: HealthProbe;
}

export const DEFAULT_HEALTH_GATE_SEC = 60;
export const DEFAULT_HEALTH_POLL_MS = 1_000;
/** A single probe never waits less than this, even right before the gate closes. */
const MIN_PROBE_TIMEOUT_MS = 250;

export const RESTART_STEPS = ['record-pid', 'restart', 'health-gate'] as const;

export const defaultProbe: HealthProbe = (url, opts) => checkHealth(url, { timeoutMs: opts.timeoutMs });

export function appHost(inv: Inventory, name: string): Host | string {
  const host = inv.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.includes('app')) return `${name} is not an app host (roles: ${host.roles.join(', ')})`;
  return host;
}

function healthService(inv: Inventory, host: Host): Service {
  return resolveService(inv, host, undefined, (s) => s.healthUrl !== undefined, 'service with a health URL');
}

/** What the inventory says the plan for `host` must be (throws `InvalidArgumentError`). */
export function derive(inv: Inventory, host: Host): { service: string; unit: string; healthUrl: string } {
  const service = healthService(inv, host);
  return { service: service.name, unit: service.unit, healthUrl: serviceUrl(service.healthUrl ?? '', host) };
}

/** `systemctl show -p MainPID --value` output → pid (0: not running), or undefined when it is not a number. */
export function parseMainPid(stdout: string): number | undefined {
  const text = stdout.trim();
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  const pid = Number(text);
  return Number.isSafeInteger(pid) ? pid : undefined;
}

export function describeProbe(r: HealthResult): string {
  if (r.status !== null) return `HTTP ${r.status}`;
  // "http://…/health is unreachable: ECONNREFUSED" → "unreachable: ECONNREFUSED" (the URL is in the plan).
  return r.error ? oneLine(r.error.message.replace(/^\S+ (is )?/, ''), 160) : 'no answer';
}

/** What a health gate polls: one URL, named after its host in the step's lines. */
export type HealthGateTarget = Pick<RestartFacts, 'host' | 'healthUrl' | 'healthGateSec' | 'pollIntervalMs'>;

/** Polls the health URL until it answers 2xx or the gate expires (on the context's clock). */
export async function healthGate(
  ctx: CommandContext,
  probe: HealthProbe,
  facts: HealthGateTarget,
  signal: AbortSignal,
): Promise<StepResult> {
  const started = ctx.now().getTime();
  const deadline = started + facts.healthGateSec * 1000;
  let attempts = 0;
  for (;;) {
    const remaining = deadline - ctx.now().getTime();
    const timeoutMs = Math.max(MIN_PROBE_TIMEOUT_MS, Math.min(ctx.stepTimeoutMs, remaining));
    const r = await probe(facts.healthUrl, { timeoutMs });
    attempts++;
    const now = ctx.now().getTime();
    if (r.ok) {
      return {
        status: 'done',
        detail: `${facts.host}: /health ${describeProbe(r)} after ${formatDuration(now - started)} (attempt ${attempts})`,
      };
    }
    if (now >= deadline) {
      return {
        status: 'failed',
        detail:
          `${facts.host}: /health did not pass within ${facts.healthGateSec} s ` +
          `(${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${describeProbe(r)})`,
      };
    }
    const cancelled = (): StepResult => ({
      status: 'cancelled',
      detail: `cancelled while waiting for /health on ${facts.host} (last: ${describeProbe(r)}); the restart itself had already run`,
    });
    if (signal.aborted) return cancelled();
    await ctx.sleep(Math.min(facts.pollIntervalMs, deadline - now), signal);
    if (signal.aborted) return cancelled();
  }
}

export function createRestartCommand(opts: RestartOptions = {}): CommandModule<RestartArgs, RestartFacts> {
  const healthGateSec = opts.healthGateSec ?? DEFAULT_HEALTH_GATE_SEC;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_HEALTH_POLL_MS;
  const probe = opts.probe ?? defaultProbe;
  if (!Number.isInteger(healthGateSec) || healthGateSec < 1 || healthGateSec > 3600)
    throw new RangeError('healthGateSec must be a whole number of seconds, 1..3600');
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10 || pollIntervalMs > 60_000)
    throw new RangeError('pollIntervalMs must be 10..60000');

  return {
    name: 'restart',

    async plan(ctx, args) {
      const host = appHost(ctx.inventory, args.host);
      if (typeof host === 'string') throw new PlanRefusedError('restart', host);
      let derived: ReturnType<typeof derive>;
      try {
        derived = derive(ctx.inventory, host);
      } catch (err) {
        throw new PlanRefusedError('restart', errorText(err));
      }
      const { unit, healthUrl } = derived;
      const apps = hostsWithRole(ctx.inventory, 'app').length;
      const facts: RestartFacts = { host: host.name, ...derived, healthGateSec, pollIntervalMs };
      return {
        command: 'restart',
        summary: `restart ${host.name}`,
        steps: [
          {
            id: 'record-pid',
            host: host.name,
            kind: 'capture',
            description: `Record the MainPID of ${unit} on ${host.name} (systemctl show -p MainPID --value ${unit})`,
            timeoutSec: serviceMainPid.timeoutSec,
          },
          {
            id: 'restart',
            host: host.name,
            kind: 'remote-command',
            description: `sudo systemctl restart ${unit} on ${host.name}`,
            timeoutSec: serviceRestart.timeoutSec,
          },
          {
            id: 'health-gate',
            host: host.name,
            kind: 'health-gate',
            description: `GET ${healthUrl} must answer 2xx within ${healthGateSec} s (polled every ${formatDuration(pollIntervalMs)})`,
            timeoutSec: healthGateSec,
          },
        ],
        blastRadius: `1 of ${apps} app host${apps === 1 ? '' : 's'} (${host.name})`,
        facts,
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.host !== args.host)
        return { ok: false, reason: `the plan is for ${f.host}, the request for ${args.host}` };
      const host = appHost(ctx.inventory, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      let now: ReturnType<typeof derive>;
      try {
        now = derive(ctx.inventory, host);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      if (now.unit !== f.unit || now.healthUrl !== f.healthUrl || now.service !== f.service) {
        return {
          ok: false,
          reason:
            `the inventory changed since the plan (${f.service}/${f.unit} at ${f.healthUrl} → ` +
            `${now.service}/${now.unit} at ${now.healthUrl}): plan again`,
        };
      }
      const [status] = await runDiagnostics(ctx, [
        { diagnostic: 'service-status', target: f.host, input: { service: f.service } },
      ]);
      const data = status?.data as ServiceStatusData | undefined;
      if (!status || !data) {
        return {
          ok: false,
          reason: `${f.host} cannot be reached: ${status?.summary ?? 'service-status gave no result'}`,
        };
      }
      if (data.exitCode === 4)
        return { ok: false, reason: `${f.host} has no unit ${f.unit} (systemctl exit 4)` };
      return { ok: true, detail: `${f.host} answers over SSH; ${f.unit} is ${data.state}` };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let oldMainPid: number | null = null;
      const host = (): Host => {
        const h = appHost(ctx.inventory, f.host);
        if (typeof h === 'string') throw new PlanRefusedError('restart', h);
        return h;
      };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ oldMainPid }),
        handlers: {
          'record-pid': async () => {
            const r = await ctx.ssh.run(host(), serviceMainPid, { unit: f.unit });
            const pid = parseMainPid(r.stdout);
            if (pid === undefined)
              return { status: 'failed', detail: `unexpected MainPID output: ${oneLine(r.stdout, 80)}` };
            oldMainPid = pid;
            return {
              status: 'done',
              detail: pid === 0 ? `${f.unit} is not running (MainPID 0)` : `${f.unit} MainPID ${pid}`,
            };
          },
          restart: async () => {
            const started = ctx.now().getTime();
            await ctx.ssh.run(host(), serviceRestart, { unit: f.unit });
            return {
              status: 'done',
              detail: `systemctl restart ${f.unit} returned after ${formatDuration(ctx.now().getTime() - started)}`,
            };
          },
          'health-gate': (s) => healthGate(ctx, probe, f, s),
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const old = outcome.observations.oldMainPid;
      const oldPid = typeof old === 'number' ? old : undefined;
      const h = appHost(ctx.inventory, f.host);
      const readPid = async (): Promise<number | string> => {
        if (typeof h === 'string') return h;
        try {
          const pid = parseMainPid((await ctx.ssh.run(h, serviceMainPid, { unit: f.unit })).stdout);
          return pid ?? 'unexpected MainPID output';
        } catch (err) {
          return errorText(err);
        }
      };
      const [newPid, results] = await Promise.all([
        readPid(),
        runDiagnostics(ctx, [{ diagnostic: 'health', target: f.host, input: { service: f.service } }]),
      ]);
      const health = results[0];
      const problems: string[] = [];
      if (typeof newPid === 'string') problems.push(`MainPID could not be read: ${newPid}`);
      else if (newPid === 0) problems.push(`${f.unit} is not running (MainPID 0)`);
      else if (oldPid === undefined) problems.push('the MainPID before the restart was not recorded');
      else if (newPid === oldPid) problems.push(`MainPID is still ${oldPid}: the process was not replaced`);
      if (!health) problems.push('the health diagnostic gave no result');
      else if (health.status !== 'ok') problems.push(`health is ${health.status}: ${health.summary}`);
      const pidText = typeof newPid === 'number' ? `${f.unit} MainPID ${newPid}` : 'MainPID unknown';
      const detailed = (health?.data as HealthData | undefined)?.health;
      return {
        ok: problems.length === 0,
        before:
          oldPid === undefined
            ? `${f.unit} MainPID not recorded (the run stopped before reading it)`
            : `${f.unit} MainPID ${oldPid}`,
        after: oneLine(`${pidText}; ${health?.summary ?? 'no health result'}`, 500),
        detail:
          problems.length === 0
            ? `${f.host}: ${f.unit} runs as a new process (${oldPid} → ${newPid}) and is healthy` +
              (detailed ? ` (/health ${detailed.httpStatus} in ${detailed.latencyMs} ms)` : '')
            : oneLine(`${f.host}: ${problems.join('; ')}`, 600),
        evidence: health ? [health] : [],
      };
    },
  };
}

/** `restart` with the default health gate (60 s). */
export const restart = createRestartCommand();
