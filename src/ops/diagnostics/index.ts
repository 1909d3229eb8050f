/**
 * The diagnostics registry and runner: every read-only runbook check by name, and
 * `runDiagnostics`, which runs a batch in parallel with a hard deadline each, validates inputs and
 * never rejects — every request yields exactly one result, in request order.
 */
import { performance } from 'node:perf_hooks';
import type { Inventory } from '../../inventory.js';
import type { FleetDatabase } from '../adapters/postgres.js';
import type { FleetCache } from '../adapters/redis.js';
import type { RemoteCommandRunner } from '../adapters/ssh.js';
import { failureResult, oneLine } from './common.js';
import { errorLog } from './error-log.js';
import { health } from './health.js';
import { memory } from './memory.js';
import { pgActiveQueries } from './pg-active-queries.js';
import { pgConnections } from './pg-connections.js';
import { pgReplication } from './pg-replication.js';
import { pgSeqScans } from './pg-seqscans.js';
import { pgStatements } from './pg-statements.js';
import { pgTableSizes } from './pg-table-sizes.js';
import { redisStats } from './redis-stats.js';
import { serviceStatus } from './service-status.js';
import { tlsExpiry } from './tls-expiry.js';
import type { Diagnostic, DiagnosticContext, DiagnosticResult } from './types.js';

export type { Diagnostic, DiagnosticContext, DiagnosticResult, DiagnosticStatus } from './types.js';

/** Every diagnostic by name. */
export const DIAGNOSTICS = {
  'service-status': serviceStatus,
  'error-log': errorLog,
  health,
  memory,
  'pg-connections': pgConnections,
  'pg-active-queries': pgActiveQueries,
  'pg-statements': pgStatements,
  'pg-seqscans': pgSeqScans,
  'pg-table-sizes': pgTableSizes,
  'pg-replication': pgReplication,
  'redis-stats': redisStats,
  'tls-expiry': tlsExpiry,
} as const satisfies Record<string, Diagnostic>;

export type DiagnosticName = keyof typeof DIAGNOSTICS;
export const DIAGNOSTIC_NAMES = Object.keys(DIAGNOSTICS) as DiagnosticName[];

export function isDiagnosticName(name: unknown): name is DiagnosticName {
  return typeof name === 'string' && Object.hasOwn(DIAGNOSTICS, name);
}

export interface DiagnosticRequest {
  readonly diagnostic: string;
  /**
   * An inventory host name, "fleet" for fleet-wide checks, or "" for the diagnostic's default
   * (first app host, db-primary, db-replica for pg-replication, redis-01, fleet).
   */
  readonly target: string;
  /** The diagnostic's options (validated by its zod schema); a `target` in here must equal `target`. */
  readonly input?: unknown;
}

/** Slack allows little margin: the runner's own deadline is the step deadline plus this. */
export const DEADLINE_MARGIN_MS = 1_000;
export const DEFAULT_STEP_TIMEOUT_MS = 5_000;

/**
 * Runs every request in parallel and resolves with one result per request, in order. Each is
 * bounded by ctx.stepTimeoutMs + 1 s (→ status "timeout"); invalid input or an unknown name is an
 * "error" result, nothing is sent anywhere for it. Never rejects.
 */
export async function runDiagnostics(
  ctx: DiagnosticContext,
  requests: readonly DiagnosticRequest[],
): Promise<DiagnosticResult[]> {
  return Promise.all(requests.map((r) => runOne(ctx, r)));
}

async function runOne(ctx: DiagnosticContext, req: DiagnosticRequest): Promise<DiagnosticResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const rawName = typeof req?.diagnostic === 'string' ? req.diagnostic : '';
  const rawTarget = typeof req?.target === 'string' ? req.target : '';
  const shownTarget = safeLabel(rawTarget, 'target') || 'default';
  if (!isDiagnosticName(rawName)) {
    const shownName = safeLabel(rawName, 'name') || '(none)';
    return {
      diagnostic: shownName,
      target: shownTarget,
      status: 'error',
      summary: oneLine(
        `${shownTarget}: unknown diagnostic "${shownName}" (known: ${DIAGNOSTIC_NAMES.join(', ')})`,
        400,
      ),
      error: 'unknown diagnostic',
      durationMs: elapsed(),
    };
  }
  const diagnostic: Diagnostic = DIAGNOSTICS[rawName];
  const input = buildInput(req.input, rawTarget);
  if (typeof input === 'string') {
    return invalid(rawName, shownTarget, input, elapsed());
  }
  const parsed = diagnostic.input.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join('.') || '(input)'}: ${oneLine(i.message, 120)}`)
      .join('; ');
    return invalid(rawName, shownTarget, detail, elapsed());
  }

  const stepMs =
    Number.isFinite(ctx.stepTimeoutMs) && ctx.stepTimeoutMs > 0 ? ctx.stepTimeoutMs : DEFAULT_STEP_TIMEOUT_MS;
  const deadlineMs = stepMs + DEADLINE_MARGIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<DiagnosticResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          diagnostic: rawName,
          target: shownTarget,
          status: 'timeout',
          summary: `${shownTarget}: ${rawName} did not finish within ${deadlineMs} ms (step deadline); the host or service may be hanging`,
          error: `deadline of ${deadlineMs} ms exceeded`,
          durationMs: elapsed(),
        }),
      deadlineMs,
    );
  });
  // A diagnostic that throws anyway (a bug) still yields a result.
  const work = Promise.resolve()
    .then(() => diagnostic.run(ctx, parsed.data))
    .catch((err: unknown) => failureResult(rawName, shownTarget, err, elapsed()));
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `input` with the request's target merged in, or a string saying why it cannot be used. */
function buildInput(input: unknown, target: string): Record<string, unknown> | string {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input))) {
    return 'input must be an object';
  }
  const base: Record<string, unknown> = input ? { ...(input as Record<string, unknown>) } : {};
  if (Object.hasOwn(base, 'target') && target !== '' && base.target !== target) {
    return 'target given twice with different values';
  }
  if (target !== '') base.target = target;
  return base;
}

function invalid(name: string, target: string, detail: string, durationMs: number): DiagnosticResult {
  return {
    diagnostic: name,
    target,
    status: 'error',
    summary: oneLine(`${target}: ${name} not run — invalid input (${detail})`, 400),
    error: oneLine(`invalid input: ${detail}`, 600),
    durationMs,
  };
}

/**
 * A request's name or target as it may be echoed in a summary: only when it has the shape of a
 * host or diagnostic name. Anything else (shell text, Slack mrkdwn like `<!channel>`, 10 KB) is
 * replaced, never repeated back.
 */
function safeLabel(text: string, what: string): string {
  if (text === '') return '';
  return /^[a-z][a-z0-9-]{0,62}$/.test(text) ? text : `(invalid ${what})`;
}

export interface CreateDiagnosticContextOptions {
  readonly inventory: Inventory;
  readonly ssh: RemoteCommandRunner;
  readonly db: FleetDatabase;
  readonly cache: FleetCache;
  readonly adminToken?: string | undefined;
  /** Default 5000 ms. */
  readonly stepTimeoutMs?: number;
  readonly now?: () => Date;
}

/** A DiagnosticContext with the defaults filled in (5 s steps, the system clock). */
export function createDiagnosticContext(opts: CreateDiagnosticContextOptions): DiagnosticContext {
  const stepTimeoutMs = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  if (!Number.isFinite(stepTimeoutMs) || stepTimeoutMs < 100 || stepTimeoutMs > 600_000) {
    throw new RangeError('stepTimeoutMs must be 100..600000');
  }
  return {
    inventory: opts.inventory,
    ssh: opts.ssh,
    db: opts.db,
    cache: opts.cache,
    adminToken: opts.adminToken === '' ? undefined : opts.adminToken,
    stepTimeoutMs,
    now: opts.now ?? (() => new Date()),
  };
}

/** Name, title and runbook command of every diagnostic (slash-command help). */
export function listDiagnostics(): { name: DiagnosticName; title: string; runbook: string }[] {
  return DIAGNOSTIC_NAMES.map((name) => ({
    name,
    title: DIAGNOSTICS[name].title,
    runbook: DIAGNOSTICS[name].runbook,
  }));
}
