/**
 * `cert-renew` — runbook "Certificate Renewal": `sudo certbot renew --dry-run`, then
 * `sudo certbot renew`, then `sudo systemctl reload nginx`, on the load balancer(s).
 *
 * - plan: from the inventory alone: the lb hosts (inventory order), the unit reloaded on each (the
 *   lb's service, nginx) and the TLS endpoints checked (`monitoring.tls_endpoints`). Steps:
 *   `record-expiry` (what each endpoint serves now), then `dry-run-<lb>` on every lb (nothing is
 *   renewed unless every dry run passed), then `renew-<lb>` and `reload-<lb>` per lb.
 * - precheck: every lb answers over SSH and its web server is active (reloading a stopped nginx
 *   fails, and a certificate nobody serves fixes nothing).
 * - run: certbot's own report says what was renewed and what is not due yet (certbot renews only
 *   within 30 days of expiry); a failed renewal (exit 1) or dry run stops the run.
 * - verify: the `tls-expiry` diagnostic again (polled briefly: nginx swaps workers after the
 *   reload): when certbot renewed, every endpoint must serve a certificate expiring later than
 *   before; when nothing was due, the same certificate and nothing close to expiry.
 */

import { z } from 'zod';
import { canonicalJson } from '../../incidents/approvals.js';
import { type Host, hostsWithRole, type Inventory } from '../../inventory.js';
import { defineRemoteCommand, type RemoteCommandResult } from '../adapters/ssh.js';
import { formatDuration, oneLine, plural, servicesOn } from '../diagnostics/common.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import type { ServiceStatusData } from '../diagnostics/service-status.js';
import type { TlsEndpointReport, TlsExpiryData } from '../diagnostics/tls-expiry.js';
import type { CommandArgs } from './catalog.js';
import { errorText, runSteps, type StepHandler } from './steps.js';
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

export type CertRenewArgs = CommandArgs['cert-renew'];

// ---------------------------------------------------------------------------------------------
// Remote commands

const unit = z.string().regex(/^[A-Za-z0-9@._-]+$/, 'must be a systemd unit name');

// certbot renew sleeps up to 8 minutes before renewing when it has no terminal (it expects cron);
// a person is waiting here. Exit 1 means "some renewal failed": an answer, parsed below.
const CERTBOT_FLAGS = '--non-interactive --no-random-sleep-on-renew';

/** `sudo certbot renew --dry-run`: every certificate's renewal simulated, nothing saved. */
export const certbotRenewDryRun = defineRemoteCommand({
  name: 'certbot-renew-dry-run',
  script: `sudo certbot renew --dry-run ${CERTBOT_FLAGS}`,
  args: {},
  timeoutSec: 300,
  okExitCodes: [0, 1],
  maxOutputBytes: 256 * 1024,
});

/** `sudo certbot renew`: the certificates within 30 days of expiry are renewed. */
export const certbotRenew = defineRemoteCommand({
  name: 'certbot-renew',
  script: `sudo certbot renew ${CERTBOT_FLAGS}`,
  args: {},
  timeoutSec: 300,
  okExitCodes: [0, 1],
  maxOutputBytes: 256 * 1024,
});

/** `sudo systemctl reload UNIT`: nginx re-reads its configuration and certificates, no dropped connection. */
export const serviceReload = defineRemoteCommand({
  name: 'service-reload',
  script: 'sudo systemctl reload {{unit}}',
  args: { unit },
  timeoutSec: 60,
});

// ---------------------------------------------------------------------------------------------
// certbot's report

export interface CertbotReport {
  /** Lineages renewed (or, in a dry run, whose renewal was simulated successfully): fullchain paths. */
  readonly renewed: readonly string[];
  readonly failed: readonly string[];
  /** Not due for renewal yet (certbot renews within 30 days of expiry), with the date certbot gives. */
  readonly notDue: readonly { readonly path: string; readonly expires: string }[];
  readonly simulated: boolean;
}

/** certbot 2.x `renew` output (stdout and stderr) → what it did with each certificate. */
export function parseCertbotRenew(output: string): CertbotReport {
  const renewed: string[] = [];
  const failed: string[] = [];
  const notDue: { path: string; expires: string }[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trimEnd();
    let m = /^\s+(\/\S+) \((success|failure)\)$/.exec(line);
    if (m?.[1]) {
      (m[2] === 'success' ? renewed : failed).push(m[1]);
      continue;
    }
    m = /^\s+(\/\S+) expires on (\S+) \(skipped\)$/.exec(line);
    if (m?.[1] && m[2]) notDue.push({ path: m[1], expires: m[2] });
  }
  return {
    renewed,
    failed,
    notDue,
    simulated: /simulated renewals|Simulating renewal/.test(output),
  };
}

function certbotText(r: RemoteCommandResult): string {
  return `${r.stdout}\n${r.stderr}`;
}

/** The last meaningful lines of certbot's output, for a failed step. */
function certbotTail(r: RemoteCommandResult): string {
  const lines = certbotText(r)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(- )+-?$/.test(l) && !l.startsWith('Saving debug log'));
  return oneLine(lines.slice(-4).join(' | '), 400);
}

const lineageName = (fullchain: string) => fullchain.replace(/^.*\/live\/([^/]+)\/fullchain\.pem$/, '$1');

// ---------------------------------------------------------------------------------------------
// Plan

export type CertRenewFacts = {
  /** Load balancers in inventory order, with the unit reloaded on each. */
  readonly lbs: readonly { readonly host: string; readonly service: string; readonly unit: string }[];
  /** `monitoring.tls_endpoints`: what verification reads. */
  readonly endpoints: readonly string[];
};

export type CertRenewPlan = CommandPlan<CertRenewFacts>;

export interface CertRenewOptions {
  /** How long verification waits for the new certificate to be served (default 10 s). */
  readonly verifyWaitMs?: number;
  /** Pause between verification probes (default 500 ms). */
  readonly verifyPollMs?: number;
}

function lbFacts(inv: Inventory, host: Host): CertRenewFacts['lbs'][number] {
  const [service] = servicesOn(inv, host);
  if (!service)
    throw new PlanRefusedError('cert-renew', `the inventory names no service on ${host.name} to reload`);
  return { host: host.name, service: service.name, unit: service.unit };
}

/** The plan from the inventory alone: the same inventory gives the same plan. */
export function buildCertRenewPlan(inv: Inventory): CertRenewPlan {
  const lbs = hostsWithRole(inv, 'lb').map((h) => lbFacts(inv, h));
  if (lbs.length === 0)
    throw new PlanRefusedError('cert-renew', 'the inventory has no load balancer (role lb)');
  const endpoints = [...inv.monitoring.tlsEndpoints];
  const steps: PlanStep[] = [
    {
      id: 'record-expiry',
      kind: 'capture',
      description:
        endpoints.length > 0
          ? `Record the certificate each TLS endpoint serves now (${endpoints.join(', ')}): openssl s_client … | openssl x509 -noout -dates`
          : 'Record the served certificates: the inventory lists no TLS endpoint (monitoring.tls_endpoints), so the result cannot be checked',
    },
    ...lbs.map(
      (lb): PlanStep => ({
        id: `dry-run-${lb.host}`,
        host: lb.host,
        kind: 'remote-command',
        description: `sudo certbot renew --dry-run on ${lb.host} (simulated, nothing saved; every dry run must pass before anything is renewed)`,
        timeoutSec: certbotRenewDryRun.timeoutSec,
      }),
    ),
  ];
  for (const lb of lbs) {
    steps.push(
      {
        id: `renew-${lb.host}`,
        host: lb.host,
        kind: 'remote-command',
        description: `sudo certbot renew on ${lb.host} (renews the certificates within 30 days of expiry)`,
        timeoutSec: certbotRenew.timeoutSec,
      },
      {
        id: `reload-${lb.host}`,
        host: lb.host,
        kind: 'remote-command',
        description: `sudo systemctl reload ${lb.unit} on ${lb.host} (serves the renewed certificate; no connection dropped)`,
        timeoutSec: serviceReload.timeoutSec,
      },
    );
  }
  const names = lbs.map((l) => l.host).join(', ');
  return {
    command: 'cert-renew',
    summary: 'cert-renew',
    steps,
    blastRadius:
      `${plural(lbs.length, 'load balancer')} (${names}): certificates renewed on disk, then a graceful ` +
      `${lbs.map((l) => l.unit).join('/')} reload (open connections finish on the old workers)`,
    facts: { lbs, endpoints },
  };
}

// ---------------------------------------------------------------------------------------------
// The module

/** The endpoints' notAfter (ISO) by endpoint, null when it could not be read. */
function expiries(r: DiagnosticResult | undefined): Record<string, string | null> {
  const data = r?.data as TlsExpiryData | undefined;
  const out: Record<string, string | null> = {};
  for (const e of data?.endpoints ?? []) out[e.endpoint] = e.notAfter ?? null;
  return out;
}

function describeEndpoint(e: TlsEndpointReport): string {
  if (!e.notAfter) return `${e.endpoint}: ${e.error ?? e.status}`;
  return `${e.endpoint} expires ${e.notAfter.slice(0, 10)} (${plural(e.daysLeft ?? 0, 'day')} left)`;
}

export function createCertRenewCommand(
  opts: CertRenewOptions = {},
): CommandModule<CertRenewArgs, CertRenewFacts> {
  const verifyWaitMs = opts.verifyWaitMs ?? 10_000;
  const verifyPollMs = opts.verifyPollMs ?? 500;
  if (!Number.isInteger(verifyWaitMs) || verifyWaitMs < 0 || verifyWaitMs > 120_000)
    throw new RangeError('verifyWaitMs must be 0..120000');
  if (!Number.isInteger(verifyPollMs) || verifyPollMs < 10 || verifyPollMs > 10_000)
    throw new RangeError('verifyPollMs must be 10..10000');

  const lbHost = (ctx: CommandContext, name: string): Host => {
    const h = ctx.inventory.hosts.get(name);
    if (!h?.roles.includes('lb'))
      throw new PlanRefusedError('cert-renew', `${name} is no longer a load balancer of the inventory`);
    return h;
  };
  const tlsExpiry = async (ctx: CommandContext) =>
    (await runDiagnostics(ctx, [{ diagnostic: 'tls-expiry', target: 'fleet' }]))[0];

  return {
    name: 'cert-renew',

    async plan(ctx) {
      return buildCertRenewPlan(ctx.inventory);
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      let now: CertRenewPlan;
      try {
        now = buildCertRenewPlan(ctx.inventory);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      // Canonical JSON: the stored plan comes back from jsonb with its keys in another order.
      if (canonicalJson(now) !== canonicalJson(plan))
        return {
          ok: false,
          reason: 'the inventory changed since the plan (load balancers, units or TLS endpoints): plan again',
        };
      const results = await runDiagnostics(
        ctx,
        plan.facts.lbs.map((lb) => ({
          diagnostic: 'service-status',
          target: lb.host,
          input: { service: lb.service },
        })),
      );
      const problems: string[] = [];
      const fine: string[] = [];
      for (const [i, lb] of plan.facts.lbs.entries()) {
        const r = results[i];
        const data = r?.data as ServiceStatusData | undefined;
        if (!r || !data) problems.push(`${lb.host} cannot be reached: ${r?.summary ?? 'no result'}`);
        else if (data.exitCode !== 0)
          problems.push(`${lb.unit} is ${data.state} on ${lb.host}: the reload would fail; start it first`);
        else fine.push(`${lb.host}: ${lb.unit} active`);
      }
      if (problems.length > 0) return { ok: false, reason: oneLine(problems.join('; '), 600) };
      const note =
        plan.facts.endpoints.length === 0 ? '; no TLS endpoint in the inventory to check afterwards' : '';
      return { ok: true, detail: oneLine(`${fine.join('; ')}${note}`, 600) };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const observations: {
        before: Record<string, string | null>;
        renewed: Record<string, string[]>;
        notDue: Record<string, string[]>;
      } = { before: {}, renewed: {}, notDue: {} };

      const handlers: Record<string, StepHandler> = {
        'record-expiry': async () => {
          if (f.endpoints.length === 0)
            return {
              status: 'done',
              detail: 'no TLS endpoint in the inventory (monitoring.tls_endpoints): nothing recorded',
            };
          const r = await tlsExpiry(ctx);
          observations.before = expiries(r);
          const data = r?.data as TlsExpiryData | undefined;
          return {
            status: 'done',
            detail: oneLine(
              data ? data.endpoints.map(describeEndpoint).join('; ') : (r?.summary ?? 'no result'),
              500,
            ),
          };
        },
      };
      for (const lb of f.lbs) {
        handlers[`dry-run-${lb.host}`] = async () => {
          const r = await ctx.ssh.run(lbHost(ctx, lb.host), certbotRenewDryRun, {});
          const rep = parseCertbotRenew(certbotText(r));
          if (r.exitCode !== 0 || rep.failed.length > 0)
            return {
              status: 'failed',
              detail: `${lb.host}: the dry run failed, nothing was renewed: ${certbotTail(r)}`,
            };
          return {
            status: 'done',
            detail:
              rep.renewed.length > 0
                ? `${lb.host}: simulated renewal succeeded for ${rep.renewed.map(lineageName).join(', ')} (${formatDuration(r.durationMs)})`
                : `${lb.host}: no certificate to renew (certbot knows none)`,
          };
        };
        handlers[`renew-${lb.host}`] = async () => {
          const r = await ctx.ssh.run(lbHost(ctx, lb.host), certbotRenew, {});
          const rep = parseCertbotRenew(certbotText(r));
          observations.renewed[lb.host] = rep.renewed.map(lineageName);
          observations.notDue[lb.host] = rep.notDue.map(
            (n) => `${lineageName(n.path)} (expires ${n.expires})`,
          );
          if (r.exitCode !== 0 || rep.failed.length > 0) {
            return {
              status: 'failed',
              detail: `${lb.host}: renewal failed for ${rep.failed.map(lineageName).join(', ') || 'a certificate'}: ${certbotTail(r)}`,
            };
          }
          const parts: string[] = [];
          if (rep.renewed.length > 0) parts.push(`renewed ${rep.renewed.map(lineageName).join(', ')}`);
          if (rep.notDue.length > 0) parts.push(`not due yet: ${observations.notDue[lb.host]?.join(', ')}`);
          return {
            status: 'done',
            detail: `${lb.host}: ${parts.join('; ') || 'no certificate to renew'} (${formatDuration(r.durationMs)})`,
          };
        };
        handlers[`reload-${lb.host}`] = async () => {
          await ctx.ssh.run(lbHost(ctx, lb.host), serviceReload, { unit: lb.unit });
          return { status: 'done', detail: `${lb.host}: ${lb.unit} reloaded` };
        };
      }
      return runSteps({
        plan,
        report,
        signal,
        handlers,
        observations: () => observations as unknown as JsonObject,
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const obs = outcome.observations as {
        before?: Record<string, string | null>;
        renewed?: Record<string, string[]>;
      };
      const before = obs.before ?? {};
      const renewedAny = Object.values(obs.renewed ?? {}).some((l) => l.length > 0);
      const beforeText =
        Object.entries(before)
          .map(([e, t]) => `${e} expires ${t ? t.slice(0, 10) : 'unknown'}`)
          .join('; ') || 'not recorded';
      if (f.endpoints.length === 0) {
        return {
          ok: false,
          before: beforeText,
          after: 'no TLS endpoint checked',
          detail:
            'the inventory lists no TLS endpoint (monitoring.tls_endpoints): the served certificate could not be checked',
          evidence: [],
        };
      }

      // Without every renewal and reload done, whether something was due is unknown: not verified.
      const unfinished = f.lbs
        .flatMap((lb) => [`renew-${lb.host}`, `reload-${lb.host}`])
        .filter((id) => outcome.steps.find((st) => st.stepId === id)?.status !== 'done');

      const judge = (
        r: DiagnosticResult | undefined,
      ): { ok: boolean; problems: string[]; changes: string[] } => {
        const data = r?.data as TlsExpiryData | undefined;
        const problems: string[] =
          unfinished.length > 0
            ? [`the run stopped before ${unfinished.join(', ')} (${outcome.detail})`]
            : [];
        const changes: string[] = [];
        if (!data) return { ok: false, problems: [r?.summary ?? 'tls-expiry gave no result'], changes };
        for (const e of data.endpoints) {
          const was = before[e.endpoint];
          if (!e.notAfter) {
            problems.push(`${e.endpoint}: ${e.error ?? e.status}`);
            continue;
          }
          const moved = was ? Date.parse(e.notAfter) - Date.parse(was) : null;
          if (moved !== null && moved !== 0) {
            const days = Math.round(moved / 86_400_000);
            changes.push(
              `${e.endpoint}: ${was?.slice(0, 10)} → ${e.notAfter.slice(0, 10)} (${days >= 0 ? '+' : ''}${plural(days, 'day')})`,
            );
          }
          if (renewedAny && was && !(moved !== null && moved > 0))
            problems.push(`${e.endpoint} still serves the certificate expiring ${e.notAfter.slice(0, 10)}`);
          if (!renewedAny && moved !== null && moved !== 0)
            problems.push(`${e.endpoint} serves another certificate although certbot renewed nothing`);
          if (e.status !== 'ok') problems.push(`${describeEndpoint(e)}: ${e.status}`);
        }
        return { ok: problems.length === 0, problems, changes };
      };

      const deadline = ctx.now().getTime() + verifyWaitMs;
      for (;;) {
        const r = await tlsExpiry(ctx);
        const j = judge(r);
        const late = ctx.now().getTime() >= deadline;
        if (j.ok || late || unfinished.length > 0) {
          const data = r?.data as TlsExpiryData | undefined;
          const after = data ? data.endpoints.map(describeEndpoint).join('; ') : (r?.summary ?? 'no result');
          return {
            ok: j.ok,
            before: oneLine(beforeText, 400),
            after: oneLine(after, 400),
            detail: oneLine(
              j.ok
                ? renewedAny
                  ? `renewed and served: ${j.changes.join('; ')}`
                  : `nothing was due for renewal; the served certificates are unchanged and not close to expiry`
                : j.problems.join('; '),
              600,
            ),
            evidence: r ? [r] : [],
          };
        }
        await ctx.sleep(Math.min(verifyPollMs, deadline - ctx.now().getTime()));
      }
    },
  };
}

/** `cert-renew` with the default verification wait (10 s). */
export const certRenew = createCertRenewCommand();
