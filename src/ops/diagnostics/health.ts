/**
 * health — runbook "Checking System Status" / Scenario 1 step 3: `GET /health` (no auth) and
 * `GET /health/detailed` (Bearer admin token) of one host, from the inventory service's URLs. The
 * detailed answer's dependency checks (database, redis) are the evidence.
 */
import { z } from 'zod';
import { serviceUrl } from '../../inventory.js';
import { checkHealth, type HealthResult } from '../adapters/http.js';
import {
  diagnose,
  hostNameSchema,
  inventoryKeySchema,
  oneLine,
  resolveHost,
  resolveService,
  targetName,
  type Verdict,
} from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'health';
const ROLES = ['app', 'lb'] as const;

export const healthInput = z.strictObject({
  /** Host name; default: the first app host. */
  target: hostNameSchema.optional(),
  /** Inventory service with a health URL; default: the host's first one (qnwis on app hosts). */
  service: inventoryKeySchema.optional(),
});

export interface HealthCheck {
  readonly status: string;
  readonly latencyMs?: number;
  readonly error?: string;
}

export interface HealthProbe {
  readonly url: string;
  readonly ok: boolean;
  /** HTTP status, null when no response arrived. */
  readonly httpStatus: number | null;
  readonly latencyMs: number;
  /** `status` field of the body (healthy, degraded, …). */
  readonly reported?: string;
  readonly maintenance?: boolean;
  /** Why there was no response (`http_unreachable`/`http_timeout` and the message). */
  readonly error?: string;
  readonly errorCode?: string;
}

export interface HealthData {
  readonly service: string;
  readonly health: HealthProbe;
  readonly detailed?: HealthProbe & {
    /** Dependency checks by name (database, redis), as the app reports them. */
    readonly checks: Readonly<Record<string, HealthCheck>>;
    readonly dbPool?: Readonly<Record<string, number>>;
  };
  /** Why /health/detailed was not asked (no URL in the inventory, no admin token configured). */
  readonly detailedSkipped?: string;
}

const checkSchema = z.looseObject({
  status: z.string(),
  latency_ms: z.number().optional(),
  error: z.string().optional(),
});
const bodySchema = z.looseObject({
  status: z.string().optional(),
  maintenance: z.boolean().optional(),
  checks: z.record(z.string(), checkSchema).optional(),
  db_pool: z.record(z.string(), z.number()).optional(),
});

function probe(url: string, r: HealthResult): HealthProbe {
  const body = bodySchema.safeParse(r.body);
  return {
    url,
    ok: r.ok,
    httpStatus: r.status,
    latencyMs: r.latencyMs,
    ...(body.success && body.data.status !== undefined ? { reported: body.data.status } : {}),
    ...(body.success && body.data.maintenance !== undefined ? { maintenance: body.data.maintenance } : {}),
    ...(r.error ? { error: oneLine(r.error.message, 300), errorCode: r.error.code } : {}),
  };
}

function checksOf(r: HealthResult): { checks: Record<string, HealthCheck>; dbPool?: Record<string, number> } {
  const body = bodySchema.safeParse(r.body);
  if (!body.success) return { checks: {} };
  const checks: Record<string, HealthCheck> = {};
  for (const [name, c] of Object.entries(body.data.checks ?? {})) {
    checks[name] = {
      status: c.status,
      ...(c.latency_ms !== undefined ? { latencyMs: c.latency_ms } : {}),
      ...(c.error !== undefined ? { error: oneLine(c.error, 200) } : {}),
    };
  }
  return { checks, ...(body.data.db_pool ? { dbPool: body.data.db_pool } : {}) };
}

/** The verdict from both probes (pure, for tests). */
export function judgeHealth(host: string, data: HealthData): Verdict<HealthData> {
  const h = data.health;
  const where = h.url.replace(/^https?:\/\//, '');
  if (h.httpStatus === null) {
    const status: DiagnosticStatus = h.errorCode === 'http_timeout' ? 'timeout' : 'unreachable';
    const why =
      h.errorCode === 'http_timeout' ? 'no answer in time' : (h.error?.replace(/^.*: /, '') ?? 'no answer');
    return {
      status,
      summary: `${host}: /health ${status} (${why}) — the app is not answering on ${where}`,
      data,
      ...(h.error ? { error: h.error } : {}),
    };
  }
  if (!h.ok) {
    return { status: 'error', summary: `${host}: /health answered HTTP ${h.httpStatus} (${where})`, data };
  }
  const parts = [`${host}: /health ${h.httpStatus} in ${h.latencyMs} ms`];
  let status: DiagnosticStatus = 'ok';
  if (h.maintenance) {
    status = 'warn';
    parts.push('in maintenance mode');
  }
  const d = data.detailed;
  if (!d) {
    parts.push(`detailed check skipped (${data.detailedSkipped ?? 'not configured'})`);
  } else if (d.httpStatus === null) {
    status = 'warn';
    parts.push(
      `/health/detailed gave no answer (${d.errorCode === 'http_timeout' ? 'timed out' : (d.error ?? 'unreachable')})`,
    );
  } else if (d.httpStatus === 401 || d.httpStatus === 403) {
    status = 'warn';
    parts.push(`/health/detailed refused the admin token (HTTP ${d.httpStatus})`);
  } else {
    const failing = Object.entries(d.checks).filter(([, c]) => c.status !== 'ok');
    const described = Object.entries(d.checks).map(
      ([name, c]) =>
        `${name} ${c.status}${c.latencyMs !== undefined ? ` (${Math.round(c.latencyMs)} ms)` : ''}${c.error ? `: ${c.error}` : ''}`,
    );
    if (!d.ok || failing.length > 0) {
      status = 'error';
      parts.push(
        `/health/detailed ${d.reported ?? `HTTP ${d.httpStatus}`}${described.length ? `: ${described.join(', ')}` : ''}`,
      );
    } else {
      parts.push(`${d.reported ?? 'healthy'}${described.length ? `: ${described.join(', ')}` : ''}`);
    }
  }
  return { status, summary: oneLine(parts.join('; '), 400), data };
}

export const health: Diagnostic<typeof healthInput, HealthData> = {
  name: NAME,
  title: 'Health endpoints',
  runbook: 'curl /health; curl -H "Authorization: Bearer $TOKEN" /health/detailed',
  input: healthInput,
  run(ctx, input) {
    return diagnose(NAME, targetName(ctx.inventory, input.target, ROLES), async () => {
      const host = resolveHost(ctx.inventory, input.target, ROLES);
      const service = resolveService(
        ctx.inventory,
        host,
        input.service,
        (s) => s.healthUrl !== undefined,
        'service with a health URL',
      );
      const healthUrl = serviceUrl(service.healthUrl ?? '', host);
      const detailedUrl = service.healthDetailedUrl ? serviceUrl(service.healthDetailedUrl, host) : undefined;
      const timeoutMs = Math.max(500, ctx.stepTimeoutMs - 250);
      const token = ctx.adminToken;
      const [h, d] = await Promise.all([
        checkHealth(healthUrl, { timeoutMs }),
        detailedUrl && token ? checkHealth(detailedUrl, { timeoutMs, bearerToken: token }) : undefined,
      ]);
      const data: HealthData = {
        service: service.name,
        health: probe(healthUrl, h),
        ...(d && detailedUrl ? { detailed: { ...probe(detailedUrl, d), ...checksOf(d) } } : {}),
        ...(!detailedUrl
          ? { detailedSkipped: 'no health_detailed_url in the inventory' }
          : !token
            ? { detailedSkipped: 'no admin token configured' }
            : {}),
      };
      return judgeHealth(host.name, data);
    });
  },
};
