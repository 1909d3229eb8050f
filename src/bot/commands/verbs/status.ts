/**
 * `/qnwis status` (runbook "Checking System Status"): for every app host `systemctl is-active qnwis`
 * and `/health`; every database host's role and replication lag; every Redis; the fleet's
 * maintenance mode (the app's `GET /admin/maintenance` with the admin token); open incidents.
 * Everything runs at once; each part that fails says so in its own line.
 */
import { z } from 'zod';
import { hostsWithRole, serviceUrl } from '../../../inventory.js';
import type { DiagnosticResult } from '../../../ops/diagnostics/types.js';
import type { CommandEnv } from '../env.js';
import { type OpenIncidents, openIncidents } from '../incident-queries.js';
import { diagnose } from './diagnose.js';

export interface AppHostStatus {
  readonly host: string;
  readonly service: DiagnosticResult | undefined;
  readonly health: DiagnosticResult | undefined;
}

export type MaintenanceStatus =
  | {
      readonly known: true;
      readonly enabled: boolean;
      readonly message: string | null;
      readonly since: string | null;
      readonly from: string;
    }
  | { readonly known: false; readonly reason: string };

export interface StatusReport {
  readonly environment: string;
  readonly apps: readonly AppHostStatus[];
  readonly databases: readonly DiagnosticResult[];
  readonly caches: readonly DiagnosticResult[];
  readonly maintenance: MaintenanceStatus;
  readonly incidents: OpenIncidents | { readonly error: string };
  readonly durationMs: number;
}

/** How many open incidents the status lists (the count is always complete). */
export const STATUS_INCIDENTS = 5;

const maintenanceSchema = z.looseObject({
  enabled: z.boolean(),
  message: z.string().nullish(),
  since: z.string().nullish(),
});

export async function collectStatus(env: CommandEnv): Promise<StatusReport> {
  const started = performance.now();
  const inv = env.inventory;
  const apps = hostsWithRole(inv, 'app').map((h) => h.name);
  // pg-replication on the primary reports the primary and every replica (role, state, lag).
  const primary = hostsWithRole(inv, 'db-primary')[0] ?? hostsWithRole(inv, 'db-replica')[0];
  const dbs = primary ? [primary.name] : [];
  const caches = hostsWithRole(inv, 'redis').map((h) => h.name);
  const requests = [
    ...apps.flatMap((target) => [
      { diagnostic: 'service-status', target },
      { diagnostic: 'health', target },
    ]),
    ...dbs.map((target) => ({ diagnostic: 'pg-replication', target })),
    ...caches.map((target) => ({ diagnostic: 'redis-stats', target })),
  ];
  const [results, maintenance, incidents] = await Promise.all([
    diagnose(env, requests),
    maintenanceState(env),
    openIncidents(env.incidents, STATUS_INCIDENTS).catch((err: unknown) => {
      env.log.error({ err }, 'status: open incidents could not be read');
      return { error: 'the incident store could not be read' };
    }),
  ]);
  const find = (diagnostic: string, target: string) =>
    results.find((r) => r.diagnostic === diagnostic && r.target === target);
  return {
    environment: inv.environment,
    apps: apps.map((host) => ({ host, service: find('service-status', host), health: find('health', host) })),
    databases: results.filter((r) => r.diagnostic === 'pg-replication'),
    caches: results.filter((r) => r.diagnostic === 'redis-stats'),
    maintenance,
    incidents,
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The fleet's maintenance state from the first app host that answers (it is one fleet-wide state
 * the app keeps in Redis, so any healthy host can tell).
 */
async function maintenanceState(env: CommandEnv): Promise<MaintenanceStatus> {
  const service = [...env.inventory.services.values()].find(
    (s) => s.maintenanceUrl && s.roles.includes('app'),
  );
  if (!service?.maintenanceUrl) return { known: false, reason: 'no maintenance_url in the inventory' };
  const template = service.maintenanceUrl;
  const hosts = hostsWithRole(env.inventory, 'app');
  // All at once: a stopped host must not delay the answer by its timeout.
  const answers = await Promise.allSettled(
    hosts.map(async (host) =>
      maintenanceSchema.parse(
        await env.getJson(serviceUrl(template, host), {
          ...(env.diagnostics.adminToken ? { bearerToken: env.diagnostics.adminToken } : {}),
          timeoutMs: env.httpTimeoutMs,
        }),
      ),
    ),
  );
  const reasons: string[] = [];
  for (const [i, answer] of answers.entries()) {
    const host = hosts[i]?.name ?? '?';
    if (answer.status === 'fulfilled') {
      const state = answer.value;
      return {
        known: true,
        enabled: state.enabled,
        message: state.message ?? null,
        since: state.since ?? null,
        from: host,
      };
    }
    const code = (answer.reason as { code?: unknown }).code;
    reasons.push(`${host}: ${typeof code === 'string' ? code : 'unexpected answer'}`);
  }
  return { known: false, reason: reasons.join(', ') || 'no app host' };
}
