/**
 * `maintenance on "MESSAGE" [--for 2h]` / `maintenance off` — runbook "Maintenance Windows": the
 * app's `POST /admin/maintenance`, plus what the runbook leaves to people: an expiring Alertmanager
 * silence for the app's alerts and a PagerDuty change event, so the window neither pages the on-call
 * nor goes unrecorded.
 *
 * - The app keeps maintenance mode fleet-wide in Redis (lab/daemons/qnwis-app/maintenance.ts), so
 *   one call through one app host turns it on everywhere; each instance re-reads the state every
 *   second and reports it in `/health` (`"maintenance": true`). The call goes to the first app host
 *   (inventory order) whose endpoint answers; the confirmation then polls every app host's /health.
 * - The silence (Alertmanager API v2) matches the app's alerts: `service="<the inventory service
 *   with the maintenance endpoint>"`, the `service` label the runbook's rules put on the app's own
 *   alerts (lab/prometheus/rules.yml: HighErrorRate, ServiceDown, QueryLatencyHigh). Database and
 *   cache alerts (`service="postgres"|"redis"`), host alerts (`service="node"`) and the Watchdog
 *   heartbeat are deliberately not silenced: app maintenance must not hide a database outage or a
 *   broken alerting pipeline. "This environment" is this environment's Alertmanager (the
 *   inventory's `monitoring.alertmanager_url`); the runbook's alerts carry no environment label, and
 *   a matcher on a label the alerts lack would silence nothing. Where one Alertmanager serves several
 *   environments, `environmentLabel` adds `<label>="<inventory environment>"`.
 * - The silence starts when the step runs and ends `--for` later (not at plan time: approval can
 *   take up to 15 minutes). `createdBy` is "qnwis-chatops" and the comment starts with a marker
 *   naming the environment, which is how `off` (and a later `on`, which replaces it) finds it.
 * - Order, chosen so that a failure half-way never hides alerts while the app serves traffic:
 *   `on` turns the app's mode on first and silences after (a failed silence leaves noise, not
 *   silence); `off` expires the silences first and turns the app's mode off after.
 * - The app's maintenance mode does not end by itself; only the silence expires. The plan says so.
 *
 * Optional ports: without an Alertmanager `on` refuses to plan (approvers approve a quiet window;
 * a window that pages is the runbook's curl, not this command) while `off` still plans (ending
 * maintenance must always be possible) and says no silence is expired; without a PagerDuty routing
 * key the change event is left out and the plan says so.
 */
import {
  HttpStatusError,
  HttpTimeoutError,
  HttpUnreachableError,
  QnwisError,
  SilenceNotFoundError,
} from '../../errors.js';
import { canonicalJson } from '../../incidents/approvals.js';
import { type Host, hostsWithRole, type Inventory, type Service, serviceUrl } from '../../inventory.js';
import {
  type AlertmanagerSilences,
  formatMatcher,
  type Silence,
  type SilenceMatcher,
} from '../adapters/alertmanager.js';
import { checkHealth, getJson, type HealthResult, postJson } from '../adapters/http.js';
import type { ChangeEvent } from '../adapters/pagerduty-change.js';
import { formatDuration, oneLine } from '../diagnostics/common.js';
import type { HealthData } from '../diagnostics/health.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import { type CommandArgs, formatSec, quoteArg } from './catalog.js';
import { errorText, runSteps, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  type JsonObject,
  PlanRefusedError,
  type PlanStep,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type MaintenanceArgs = CommandArgs['maintenance'];

/** Who creates the silences; `off` only ever expires silences with this author and the marker. */
export const MAINTENANCE_CREATED_BY = 'qnwis-chatops';
export const DEFAULT_CONFIRM_WITHIN_SEC = 15;
export const DEFAULT_CONFIRM_POLL_MS = 500;
const CHANGE_EVENT_ATTEMPTS = 3;
/** Alertmanager keeps endsAt to the millisecond; this absorbs a server that rounds. */
const ENDS_AT_TOLERANCE_MS = 1_000;

export type MaintenanceEndpoint = { readonly host: string; readonly url: string };

export type MaintenanceSilenceFacts = {
  readonly alertmanagerUrl: string;
  /** `on`: the silence's matchers. `off`: empty (silences are found by author and marker). */
  readonly matchers: readonly {
    readonly name: string;
    readonly value: string;
    readonly isRegex: boolean;
    readonly isEqual: boolean;
  }[];
  readonly createdBy: string;
  /** The start of every comment of ours: `[qnwis-chatops maintenance env=<environment>]`. */
  readonly marker: string;
  /** `on`: the comment (the request reference is appended at run time when there is one). */
  readonly comment: string | null;
};

export type MaintenanceFacts = {
  readonly mode: 'on' | 'off';
  readonly environment: string;
  /** The inventory service with the maintenance endpoint (qnwis). */
  readonly service: string;
  readonly message: string | null;
  /** `on`: how long the silence lasts. */
  readonly durationSec: number | null;
  /** The maintenance endpoint of every app host, in the order they are tried. */
  readonly endpoints: readonly MaintenanceEndpoint[];
  /** Every app host's /health: the confirmation and the verification read it. */
  readonly health: readonly MaintenanceEndpoint[];
  readonly confirmWithinSec: number;
  readonly pollIntervalMs: number;
  /** Null when no Alertmanager is configured (only possible for `off`). */
  readonly silence: MaintenanceSilenceFacts | null;
  /** Null when no PagerDuty routing key is configured. */
  readonly changeEvent: { readonly source: string; readonly summary: string } | null;
  /** What the plan leaves out and why, for the approvers. */
  readonly skipped: readonly string[];
};

export type MaintenancePlan = CommandPlan<MaintenanceFacts>;

export interface MaintenanceOptions {
  /** Seconds every app host's /health has to report the new state (default 15). */
  readonly confirmWithinSec?: number;
  /** Pause between /health polls (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** The alert label naming the service (default `service`, as lab/prometheus/rules.yml). */
  readonly serviceLabel?: string;
  /** When set, the silence also matches `<label>="<inventory environment>"`. Default: none. */
  readonly environmentLabel?: string;
}

/** The fleet state as the app reports it (`GET|POST /admin/maintenance`). */
export interface FleetMaintenanceState {
  readonly enabled: boolean;
  readonly message: string | null;
  readonly since: string;
  /** The host that answered. */
  readonly host: string;
}

// ---------------------------------------------------------------------------------------------
// Pure pieces (unit-tested)

export function maintenanceMarker(environment: string): string {
  return `[${MAINTENANCE_CREATED_BY} maintenance env=${environment}]`;
}

/** The silence's matchers: the service's alerts, optionally narrowed to this environment. */
export function maintenanceMatchers(
  inv: Pick<Inventory, 'environment'>,
  service: string,
  opts: Pick<MaintenanceOptions, 'serviceLabel' | 'environmentLabel'> = {},
): SilenceMatcher[] {
  const matchers: SilenceMatcher[] = [
    { name: opts.serviceLabel ?? 'service', value: service, isRegex: false, isEqual: true },
  ];
  if (opts.environmentLabel)
    matchers.push({ name: opts.environmentLabel, value: inv.environment, isRegex: false, isEqual: true });
  return matchers;
}

/** `[qnwis-chatops maintenance env=lab] "Scheduled maintenance" for 2h`. */
export function silenceComment(environment: string, message: string, durationSec: number): string {
  return `${maintenanceMarker(environment)} ${JSON.stringify(message)} for ${formatSec(durationSec)}`;
}

/** The comment with the request reference, when the run has one. */
export function withRequestRef(comment: string, requestRef: string | undefined): string {
  const ref = cleanRef(requestRef);
  return ref === undefined ? comment : `${comment} (request ${ref})`;
}

function cleanRef(requestRef: string | undefined): string | undefined {
  if (requestRef === undefined) return undefined;
  const ref = oneLine(requestRef, 80);
  return ref === '' ? undefined : ref;
}

/** A silence of ours for this environment (whatever its state). */
export function isMaintenanceSilence(s: Pick<Silence, 'createdBy' | 'comment'>, marker: string): boolean {
  return s.createdBy === MAINTENANCE_CREATED_BY && s.comment.startsWith(marker);
}

/** The silence that `on` creates when its step runs at `now`. */
export function silenceSpecFor(
  facts: MaintenanceFacts,
  now: Date,
  requestRef: string | undefined,
): { matchers: SilenceMatcher[]; startsAt: Date; endsAt: Date; createdBy: string; comment: string } {
  const s = facts.silence;
  if (!s || s.comment === null || facts.durationSec === null)
    throw new TypeError('silenceSpecFor needs a maintenance-on plan with a silence');
  return {
    matchers: s.matchers.map((m) => ({ ...m })),
    startsAt: now,
    endsAt: new Date(now.getTime() + facts.durationSec * 1000),
    createdBy: s.createdBy,
    comment: withRequestRef(s.comment, requestRef),
  };
}

function hostList(hosts: readonly MaintenanceEndpoint[]): string {
  return hosts.map((h) => h.host).join(', ');
}

function describeState(s: Pick<FleetMaintenanceState, 'enabled' | 'message' | 'since'>): string {
  if (!s.enabled) return 'not in maintenance';
  return `in maintenance since ${s.since}${s.message === null ? '' : ` (${quoteArg(s.message, 80)})`}`;
}

// ---------------------------------------------------------------------------------------------
// The module

export function createMaintenanceCommand(
  opts: MaintenanceOptions = {},
): CommandModule<MaintenanceArgs, MaintenanceFacts> {
  const confirmWithinSec = opts.confirmWithinSec ?? DEFAULT_CONFIRM_WITHIN_SEC;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_CONFIRM_POLL_MS;
  if (!Number.isInteger(confirmWithinSec) || confirmWithinSec < 1 || confirmWithinSec > 600)
    throw new RangeError('confirmWithinSec must be a whole number of seconds, 1..600');
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10 || pollIntervalMs > 60_000)
    throw new RangeError('pollIntervalMs must be 10..60000');

  /** The facts for `args` from the inventory and the context's ports (throws PlanRefusedError). */
  function derive(ctx: CommandContext, args: MaintenanceArgs): MaintenanceFacts {
    const inv = ctx.inventory;
    const refuse = (why: string): never => {
      throw new PlanRefusedError('maintenance', why);
    };
    const apps = hostsWithRole(inv, 'app');
    if (apps.length === 0) refuse('the inventory has no app host');
    const service: Service | undefined = [...inv.services.values()].find(
      (s) => s.maintenanceUrl !== undefined && s.roles.includes('app'),
    );
    if (!service?.maintenanceUrl)
      return refuse(
        'no inventory service of the app hosts has a maintenance_url (services.<name>.maintenance_url)',
      );
    if (!service.healthUrl)
      return refuse(`service ${service.name} has no health_url: the new state could not be confirmed`);
    if (!ctx.adminToken)
      refuse(
        `the admin token for ${service.name} (${service.adminTokenEnv ?? 'admin_token_env'}) is not configured: ` +
          'the maintenance endpoint needs it',
      );
    const maintenanceUrl = service.maintenanceUrl;
    const healthUrl = service.healthUrl;
    const endpoints = apps.map((h: Host) => ({ host: h.name, url: serviceUrl(maintenanceUrl, h) }));
    const health = apps.map((h: Host) => ({ host: h.name, url: serviceUrl(healthUrl, h) }));
    const env = inv.environment;
    const skipped: string[] = [];

    let silence: MaintenanceSilenceFacts | null = null;
    if (ctx.alertmanager) {
      const matchers = args.mode === 'on' ? maintenanceMatchers(inv, service.name, opts) : [];
      silence = {
        alertmanagerUrl: ctx.alertmanager.url,
        matchers,
        createdBy: MAINTENANCE_CREATED_BY,
        marker: maintenanceMarker(env),
        comment: args.mode === 'on' ? silenceComment(env, args.message, args.forSec) : null,
      };
    } else if (args.mode === 'on') {
      refuse(
        `no Alertmanager is configured for ${env} (monitoring.alertmanager_url), so the app's alerts ` +
          'could not be silenced during the window; use the runbook procedure if paging during it is acceptable',
      );
    } else {
      skipped.push(
        'Alertmanager silences: none expired (no Alertmanager is configured for this environment)',
      );
    }

    let changeEvent: MaintenanceFacts['changeEvent'] = null;
    const source = `${service.name}-${env}`;
    if (ctx.changeEvents) {
      changeEvent = {
        source,
        summary:
          args.mode === 'on'
            ? `Maintenance started on ${service.name} (${env}) for ${formatSec(args.forSec)}: ${args.message}`
            : `Maintenance ended on ${service.name} (${env})`,
      };
    } else {
      skipped.push('PagerDuty change event: not sent (no PagerDuty routing key is configured)');
    }

    return {
      mode: args.mode,
      environment: env,
      service: service.name,
      message: args.mode === 'on' ? args.message : null,
      durationSec: args.mode === 'on' ? args.forSec : null,
      endpoints,
      health,
      confirmWithinSec,
      pollIntervalMs,
      silence,
      changeEvent,
      skipped,
    };
  }

  function steps(f: MaintenanceFacts): PlanStep[] {
    const [first, ...rest] = f.endpoints;
    const fallback =
      rest.length > 0 ? `; ${hostList(rest)} take the call if ${first?.host} does not answer` : '';
    const s = f.silence;
    const readState: PlanStep = {
      id: 'read-state',
      kind: 'capture',
      description:
        `Read the fleet's maintenance state (GET ${first?.url}${rest.length > 0 ? `, else ${hostList(rest)}` : ''})` +
        (s ? ` and the ${s.createdBy} maintenance silences in ${s.alertmanagerUrl}` : ''),
    };
    const confirm = (want: boolean): PlanStep => ({
      id: 'confirm',
      kind: 'health-gate',
      description:
        `GET /health on ${hostList(f.health)} must report "maintenance": ${want} within ${f.confirmWithinSec} s ` +
        `(polled every ${formatDuration(f.pollIntervalMs)}; a host that does not answer reads the fleet state when it starts)`,
      timeoutSec: f.confirmWithinSec,
    });
    const changeEvent: PlanStep[] = f.changeEvent
      ? [
          {
            id: 'change-event',
            kind: 'remote-command',
            description: `PagerDuty change event (POST /v2/change/enqueue, source ${f.changeEvent.source}): ${JSON.stringify(f.changeEvent.summary)}`,
          },
        ]
      : [];
    const appCall = (enabled: boolean): PlanStep => ({
      id: enabled ? 'app-on' : 'app-off',
      host: first?.host,
      kind: 'remote-command',
      description:
        `POST ${first?.url} ${JSON.stringify(enabled ? { enabled: true, message: f.message } : { enabled: false })} ` +
        `with the admin token: fleet-wide (the app keeps the state in Redis)${fallback}`,
    });

    if (f.mode === 'on') {
      const silenceStep: PlanStep[] = s
        ? [
            {
              id: 'silence',
              kind: 'remote-command',
              description:
                `POST ${s.alertmanagerUrl}/api/v2/silences: ${s.matchers.map(formatMatcher).join(', ')} ` +
                `from when this step runs for ${formatSec(f.durationSec ?? 0)} (endsAt = start + ${formatSec(f.durationSec ?? 0)}), ` +
                `createdBy ${s.createdBy}, comment ${JSON.stringify(s.comment)} (+ the request reference); ` +
                `earlier ${s.createdBy} maintenance silences of ${f.environment} are expired (replaced)`,
            },
          ]
        : [];
      return [readState, appCall(true), confirm(true), ...silenceStep, ...changeEvent];
    }
    const expire: PlanStep[] = s
      ? [
          {
            id: 'expire-silences',
            kind: 'remote-command',
            description:
              `Expire (DELETE ${s.alertmanagerUrl}/api/v2/silence/<id>) every active or pending silence ` +
              `created by ${s.createdBy} whose comment starts with ${s.marker}`,
          },
        ]
      : [];
    return [readState, ...expire, appCall(false), confirm(false), ...changeEvent];
  }

  // ---- I/O helpers ---------------------------------------------------------------------------

  /** GET/POST the maintenance endpoint, host after host until one answers. */
  async function callFleet(
    ctx: CommandContext,
    f: MaintenanceFacts,
    body?: { enabled: boolean; message?: string },
  ): Promise<FleetMaintenanceState> {
    const tried: string[] = [];
    for (const ep of f.endpoints) {
      const httpOpts = { bearerToken: ctx.adminToken, timeoutMs: ctx.stepTimeoutMs };
      try {
        const raw =
          body === undefined ? await getJson(ep.url, httpOpts) : await postJson(ep.url, body, httpOpts);
        return parseState(raw, ep.host);
      } catch (err) {
        // Not answering, or answering 5xx (its Redis unreachable): the next host may do. A 4xx
        // (token refused, body refused) would be the same everywhere.
        const retryable =
          err instanceof HttpUnreachableError ||
          err instanceof HttpTimeoutError ||
          (err instanceof HttpStatusError && err.status >= 500);
        tried.push(`${ep.host}: ${errorText(err)}`);
        if (!retryable) break;
      }
    }
    throw new MaintenanceEndpointError(oneLine(tried.join('; '), 600));
  }

  function parseState(raw: unknown, host: string): FleetMaintenanceState {
    const r = raw as { enabled?: unknown; message?: unknown; since?: unknown } | null;
    if (!r || typeof r.enabled !== 'boolean')
      throw new MaintenanceEndpointError(`${host}: the maintenance endpoint answered without "enabled"`);
    return {
      enabled: r.enabled,
      message: typeof r.message === 'string' ? r.message : null,
      since: typeof r.since === 'string' ? r.since : '',
      host,
    };
  }

  async function ourSilences(am: AlertmanagerSilences, marker: string): Promise<Silence[]> {
    return (await am.listSilences()).filter((s) => s.state !== 'expired' && isMaintenanceSilence(s, marker));
  }

  /** Polls every app host's /health until each one that answers reports `want`. */
  async function confirmGate(
    ctx: CommandContext,
    f: MaintenanceFacts,
    want: boolean,
    signal: AbortSignal,
  ): Promise<StepResult> {
    const started = ctx.now().getTime();
    const deadline = started + f.confirmWithinSec * 1000;
    for (;;) {
      const remaining = deadline - ctx.now().getTime();
      const timeoutMs = Math.max(250, Math.min(ctx.stepTimeoutMs, remaining));
      const seen = await Promise.all(
        f.health.map(async (h) => ({ host: h.host, r: await checkHealth(h.url, { timeoutMs }) })),
      );
      const answered = seen.filter((s) => s.r.ok);
      const wrong = answered.filter((s) => reportedMaintenance(s.r) !== want);
      const silent = seen.filter((s) => !s.r.ok);
      const now = ctx.now().getTime();
      if (answered.length > 0 && wrong.length === 0 && silent.length === 0) {
        return {
          status: 'done',
          detail: `${hostList(f.health)} report maintenance ${want} after ${formatDuration(now - started)}`,
        };
      }
      if (now >= deadline) {
        if (answered.length > 0 && wrong.length === 0) {
          return {
            status: 'done',
            detail:
              `${answered.map((s) => s.host).join(', ')} report maintenance ${want}; ` +
              `${silent.map((s) => `${s.host} (${describeProbe(s.r)})`).join(', ')} did not answer and ` +
              'will read the fleet state from Redis when it starts',
          };
        }
        const problems = [
          ...wrong.map((s) => `${s.host} still reports maintenance ${reportedMaintenance(s.r) ?? 'unknown'}`),
          ...silent.map((s) => `${s.host}: ${describeProbe(s.r)}`),
        ];
        return {
          status: 'failed',
          detail: oneLine(
            `not every app host reports maintenance ${want} within ${f.confirmWithinSec} s: ${problems.join('; ')}`,
            600,
          ),
        };
      }
      if (signal.aborted)
        return {
          status: 'cancelled',
          detail: 'cancelled while waiting for the app hosts to report the new state',
        };
      await ctx.sleep(Math.min(f.pollIntervalMs, deadline - now), signal);
      if (signal.aborted)
        return {
          status: 'cancelled',
          detail: 'cancelled while waiting for the app hosts to report the new state',
        };
    }
  }

  async function sendChangeEvent(
    ctx: CommandContext,
    event: ChangeEvent,
    signal: AbortSignal,
  ): Promise<StepResult> {
    const port = ctx.changeEvents;
    if (!port)
      return { status: 'failed', detail: 'no PagerDuty change-event client in this context: plan again' };
    for (let attempt = 1; ; attempt++) {
      try {
        await port.send(event);
        return {
          status: 'done',
          detail: `PagerDuty accepted the change event${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
        };
      } catch (err) {
        const transient = (err as { transient?: unknown }).transient === true;
        if (!transient || attempt >= CHANGE_EVENT_ATTEMPTS || signal.aborted)
          return { status: 'failed', detail: `the change event was not recorded: ${errorText(err)}` };
        const wait = (err as { retryAfterMs?: unknown }).retryAfterMs;
        await ctx.sleep(typeof wait === 'number' ? wait : 2_000, signal);
      }
    }
  }

  // ---- The lifecycle -------------------------------------------------------------------------

  return {
    name: 'maintenance',

    async plan(ctx, args) {
      const facts = derive(ctx, args);
      const n = facts.health.length;
      const hosts = `every app host (${n}: ${hostList(facts.health)})`;
      const blastRadius =
        facts.mode === 'on'
          ? `${hosts}: users get HTTP 503 ${quoteArg(facts.message ?? '', 80)}; alerts matching ` +
            `${facts.silence?.matchers.map(formatMatcher).join(', ')} are silenced for ${formatSec(facts.durationSec ?? 0)} ` +
            `(maintenance mode itself stays on until "maintenance off")`
          : `${hosts} serves traffic again; ${
              facts.silence
                ? `the ${MAINTENANCE_CREATED_BY} maintenance silences are expired, alerts notify again`
                : 'no silence is touched'
            }`;
      return {
        command: 'maintenance',
        summary:
          facts.mode === 'on'
            ? `maintenance on for ${formatSec(facts.durationSec ?? 0)}: ${quoteArg(facts.message ?? '', 60)}`
            : 'maintenance off',
        steps: steps(facts),
        blastRadius,
        facts,
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.mode !== args.mode)
        return { ok: false, reason: `the plan is for maintenance ${f.mode}, the request for ${args.mode}` };
      let now: MaintenanceFacts;
      try {
        now = derive(ctx, args);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      // Canonical: a plan read back from storage (JSONB) has its keys in another order.
      if (canonicalJson(now) !== canonicalJson(f))
        return {
          ok: false,
          reason:
            'the inventory or the configuration (Alertmanager, PagerDuty) changed since the plan: plan again',
        };
      let state: FleetMaintenanceState;
      try {
        state = await callFleet(ctx, f);
      } catch (err) {
        return { ok: false, reason: `the app's maintenance endpoint does not answer: ${errorText(err)}` };
      }
      let ours: Silence[] = [];
      if (f.silence && ctx.alertmanager) {
        try {
          ours = await ourSilences(ctx.alertmanager, f.silence.marker);
        } catch (err) {
          return { ok: false, reason: `Alertmanager does not answer: ${errorText(err)}` };
        }
      }
      const silences =
        ours.length === 0
          ? ''
          : `; ${ours.length} maintenance silence${ours.length === 1 ? '' : 's'} of ${MAINTENANCE_CREATED_BY} active (${ours.map((s) => s.id).join(', ')})`;
      if (f.mode === 'on') {
        if (state.enabled)
          return {
            ok: true,
            detail: oneLine(
              `the app is already ${describeState(state)} (read on ${state.host}): the message becomes ` +
                `${quoteArg(f.message ?? '', 80)} and the silence is replaced${silences}`,
              600,
            ),
          };
        return { ok: true, detail: `the app answers (${state.host}) and is not in maintenance${silences}` };
      }
      if (!state.enabled && ours.length === 0)
        return {
          ok: false,
          reason: `the app is not in maintenance (read on ${state.host}) and no maintenance silence of ${MAINTENANCE_CREATED_BY} is active: nothing to turn off`,
        };
      return {
        ok: true,
        detail: oneLine(
          state.enabled
            ? `the app is ${describeState(state)} (read on ${state.host})${silences}`
            : `the app is not in maintenance (read on ${state.host}); the remaining silences are expired${silences}`,
          600,
        ),
      };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const obs: {
        before: JsonObject | null;
        via: string | null;
        silenceId: string | null;
        silenceEndsAt: string | null;
        replacedSilences: string[];
        expiredSilences: string[];
        changeEvent: string;
      } = {
        before: null,
        via: null,
        silenceId: null,
        silenceEndsAt: null,
        replacedSilences: [],
        expiredSilences: [],
        changeEvent: f.changeEvent ? 'not sent' : 'skipped (not configured)',
      };
      const am = (): AlertmanagerSilences => {
        if (!ctx.alertmanager)
          throw new PlanRefusedError('maintenance', 'no Alertmanager in this context: plan again');
        return ctx.alertmanager;
      };
      const ref = cleanRef(ctx.requestRef);

      const setState = async (enabled: boolean): Promise<StepResult> => {
        const body = enabled ? { enabled: true, message: f.message ?? '' } : { enabled: false };
        const state = await callFleet(ctx, f, body);
        obs.via = state.host;
        if (state.enabled !== enabled)
          return { status: 'failed', detail: `${state.host} answered enabled=${state.enabled}` };
        return {
          status: 'done',
          detail: `maintenance ${enabled ? 'on' : 'off'} through ${state.host} (fleet state since ${state.since})`,
        };
      };

      const changeEvent = async (s: AbortSignal): Promise<StepResult> => {
        const ce = f.changeEvent;
        if (!ce) return { status: 'done', detail: 'skipped' };
        const links =
          f.silence && obs.silenceId
            ? [
                {
                  href: `${f.silence.alertmanagerUrl}/#/silences/${obs.silenceId}`,
                  text: 'Alertmanager silence',
                },
              ]
            : [];
        const details: Record<string, unknown> =
          f.mode === 'on'
            ? {
                environment: f.environment,
                message: f.message,
                duration: formatSec(f.durationSec ?? 0),
                silence_id: obs.silenceId,
                silence_ends_at: obs.silenceEndsAt,
                silence_matchers: f.silence?.matchers.map(formatMatcher) ?? [],
                app_hosts: f.health.map((h) => h.host),
              }
            : {
                environment: f.environment,
                previous_message: (obs.before?.message as string | null | undefined) ?? null,
                expired_silences: obs.expiredSilences,
                app_hosts: f.health.map((h) => h.host),
              };
        const r = await sendChangeEvent(
          ctx,
          {
            summary: ce.summary,
            source: ce.source,
            timestamp: ctx.now().toISOString(),
            customDetails: {
              ...details,
              requested_via: MAINTENANCE_CREATED_BY,
              ...(ref ? { request: ref } : {}),
            },
            links,
          },
          s,
        );
        obs.changeEvent = r.status === 'done' ? 'sent' : r.detail;
        return r;
      };

      const handlers: Record<string, (s: AbortSignal) => Promise<StepResult>> = {
        'read-state': async () => {
          const state = await callFleet(ctx, f);
          obs.before = {
            enabled: state.enabled,
            message: state.message,
            since: state.since,
            host: state.host,
          };
          let silences = '';
          if (f.silence) {
            const ours = await ourSilences(am(), f.silence.marker);
            silences = `; ${ours.length} maintenance silence${ours.length === 1 ? '' : 's'} of ${MAINTENANCE_CREATED_BY} active`;
          }
          return {
            status: 'done',
            detail: `the app is ${describeState(state)} (read on ${state.host})${silences}`,
          };
        },
        'app-on': () => setState(true),
        'app-off': () => setState(false),
        confirm: (s) => confirmGate(ctx, f, f.mode === 'on', s),
        silence: async () => {
          const spec = silenceSpecFor(f, ctx.now(), ref);
          const id = await am().createSilence(spec);
          obs.silenceId = id;
          obs.silenceEndsAt = spec.endsAt.toISOString();
          const notes: string[] = [];
          // A second `on` replaces the window: the older silence of ours must not outlive it.
          try {
            for (const old of await ourSilences(am(), f.silence?.marker ?? '')) {
              if (old.id === id) continue;
              try {
                await am().expireSilence(old.id);
              } catch (err) {
                if (!(err instanceof SilenceNotFoundError)) throw err;
              }
              obs.replacedSilences.push(old.id);
            }
          } catch (err) {
            notes.push(`an earlier silence could not be expired (maintenance off will): ${errorText(err)}`);
          }
          if (obs.replacedSilences.length > 0) notes.push(`replaced ${obs.replacedSilences.join(', ')}`);
          return {
            status: 'done',
            detail: `silence ${id} (${spec.matchers.map(formatMatcher).join(', ')}) until ${obs.silenceEndsAt}${notes.length ? `; ${notes.join('; ')}` : ''}`,
          };
        },
        'expire-silences': async () => {
          const ours = await ourSilences(am(), f.silence?.marker ?? '');
          for (const s of ours) {
            try {
              await am().expireSilence(s.id);
            } catch (err) {
              if (!(err instanceof SilenceNotFoundError)) throw err;
            }
            obs.expiredSilences.push(s.id);
          }
          return {
            status: 'done',
            detail:
              ours.length === 0
                ? 'no active maintenance silence to expire'
                : `expired ${ours.map((s) => s.id).join(', ')}`,
          };
        },
        'change-event': changeEvent,
      };
      return runSteps({
        plan,
        report,
        signal,
        handlers,
        observations: () => ({
          ...obs,
          replacedSilences: [...obs.replacedSilences],
          expiredSilences: [...obs.expiredSilences],
        }),
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const want = f.mode === 'on';
      const o = outcome.observations;
      const problems: string[] = [];
      const facts: string[] = [];

      const [evidence, fleet, silenceCheck] = await Promise.all([
        runDiagnostics(
          ctx,
          f.health.map((h) => ({ diagnostic: 'health', target: h.host, input: { service: f.service } })),
        ),
        callFleet(ctx, f).then(
          (s) => s,
          (err: unknown) => errorText(err),
        ),
        checkSilences(ctx, f, o),
      ]);

      const reporting: string[] = [];
      const unanswered: string[] = [];
      for (const r of evidence) {
        const m = (r.data as HealthData | undefined)?.health;
        if (!m || m.httpStatus === null || !m.ok) unanswered.push(`${r.target} (${r.summary})`);
        else if (m.maintenance !== want)
          problems.push(`${r.target} reports maintenance ${m.maintenance ?? 'unknown'}`);
        else reporting.push(r.target);
      }
      if (reporting.length === 0) problems.push('no app host answered /health');
      if (reporting.length > 0) facts.push(`${reporting.join(', ')} report maintenance ${want}`);
      if (unanswered.length > 0) facts.push(`not answering: ${unanswered.join('; ')}`);

      if (typeof fleet === 'string') problems.push(`the fleet state could not be read: ${fleet}`);
      else {
        facts.push(`fleet state: ${describeState(fleet)}`);
        if (fleet.enabled !== want) problems.push(`the fleet state is ${describeState(fleet)}`);
        else if (want && fleet.message !== f.message)
          problems.push(`the fleet message is ${quoteArg(fleet.message ?? '', 80)}, not the planned one`);
      }
      problems.push(...silenceCheck.problems);
      facts.push(...silenceCheck.facts);

      const before = o.before as { enabled?: unknown; message?: unknown; since?: unknown } | null | undefined;
      const beforeText =
        before && typeof before.enabled === 'boolean'
          ? `the app was ${describeState({
              enabled: before.enabled,
              message: typeof before.message === 'string' ? before.message : null,
              since: typeof before.since === 'string' ? before.since : '?',
            })}`
          : 'the state before was not read (the run stopped before it)';
      const changeEvent = typeof o.changeEvent === 'string' ? `; change event: ${o.changeEvent}` : '';
      return {
        ok: problems.length === 0,
        before: beforeText,
        after: oneLine(facts.join('; '), 900),
        detail:
          problems.length === 0
            ? oneLine(
                want
                  ? `maintenance is on across the fleet and the app's alerts are silenced${changeEvent}`
                  : `maintenance is off across the fleet and no maintenance silence is active${changeEvent}`,
                600,
              )
            : oneLine(problems.join('; '), 900),
        evidence: evidence as DiagnosticResult[],
      };
    },
  };
}

/** The silence side of verification (never throws). */
async function checkSilences(
  ctx: CommandContext,
  f: MaintenanceFacts,
  o: JsonObject,
): Promise<{ problems: string[]; facts: string[] }> {
  const problems: string[] = [];
  const facts: string[] = [];
  const s = f.silence;
  const am = ctx.alertmanager;
  if (!s) return { problems, facts: ['no Alertmanager configured: no silence checked'] };
  if (!am) return { problems: ['no Alertmanager in this context'], facts };
  try {
    if (f.mode === 'on') {
      const id = typeof o.silenceId === 'string' ? o.silenceId : undefined;
      const endsAt = typeof o.silenceEndsAt === 'string' ? o.silenceEndsAt : undefined;
      if (!id || !endsAt) return { problems: ['the run created no silence'], facts };
      const got = await am.getSilence(id);
      if (!got) problems.push(`Alertmanager has no silence ${id}`);
      else {
        facts.push(`silence ${id} ${got.state} until ${got.endsAt}`);
        if (got.state !== 'active') problems.push(`silence ${id} is ${got.state}, not active`);
        // An expired silence's endsAt is when it was expired: only a live one is compared.
        else if (Math.abs(Date.parse(got.endsAt) - Date.parse(endsAt)) > ENDS_AT_TOLERANCE_MS)
          problems.push(`silence ${id} ends at ${got.endsAt}, not ${endsAt}`);
        const wantMatchers = s.matchers.map(formatMatcher).sort().join(', ');
        const gotMatchers = got.matchers.map(formatMatcher).sort().join(', ');
        if (wantMatchers !== gotMatchers)
          problems.push(`silence ${id} matches ${gotMatchers}, not ${wantMatchers}`);
      }
    } else {
      const expired = Array.isArray(o.expiredSilences)
        ? o.expiredSilences.filter((x): x is string => typeof x === 'string')
        : [];
      for (const id of expired) {
        const got = await am.getSilence(id);
        if (got && got.state !== 'expired') problems.push(`silence ${id} is still ${got.state}`);
      }
      const left = (await am.listSilences()).filter(
        (x) => x.state !== 'expired' && isMaintenanceSilence(x, s.marker),
      );
      if (left.length > 0)
        problems.push(
          `maintenance silences still active: ${left.map((x) => `${x.id} (${x.state})`).join(', ')}`,
        );
      facts.push(
        expired.length === 0
          ? 'no maintenance silence was active'
          : `silences expired: ${expired.join(', ')}`,
      );
    }
  } catch (err) {
    problems.push(`Alertmanager could not be read: ${errorText(err)}`);
  }
  return { problems, facts };
}

function reportedMaintenance(r: HealthResult): boolean | undefined {
  const m = (r.body as { maintenance?: unknown } | undefined)?.maintenance;
  return typeof m === 'boolean' ? m : undefined;
}

function describeProbe(r: HealthResult): string {
  if (r.status !== null) return `HTTP ${r.status}`;
  return r.error ? oneLine(r.error.message.replace(/^\S+ (is )?/, ''), 160) : 'no answer';
}

/** No app host's maintenance endpoint took the call (each host's reason, in order). Transient. */
export class MaintenanceEndpointError extends QnwisError {
  readonly code = 'maintenance_endpoint_unavailable';
  constructor(detail: string) {
    super(detail, { transient: true });
  }
}

/** `maintenance` with the defaults (15 s confirmation, `service="<service>"` silence). */
export const maintenance = createMaintenanceCommand();
