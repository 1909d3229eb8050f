/**
 * The contract every diagnostic follows (the runbook's read-only checks, as code). A diagnostic
 * declares its input and output, never throws for a host problem (an unreachable host or a timeout
 * is a result, not an exception), and returns plain data that Block Kit builders, playbook
 * verdicts and slash commands render.
 */
import type { z } from 'zod';
import type { Inventory } from '../../inventory.js';
import type { FleetDatabase } from '../adapters/postgres.js';
import type { FleetCache } from '../adapters/redis.js';
import type { RemoteCommandRunner } from '../adapters/ssh.js';

/** ok: nothing wrong seen; warn: something the on-call should look at; error: broken. */
export type DiagnosticStatus = 'ok' | 'warn' | 'error' | 'unreachable' | 'timeout';

export interface DiagnosticResult<O = unknown> {
  /** The diagnostic's name, e.g. "error-log". */
  readonly diagnostic: string;
  /** Inventory host name, or "fleet" for fleet-wide checks. */
  readonly target: string;
  readonly status: DiagnosticStatus;
  /** One line an on-call engineer reads first, e.g. "412 ERROR lines, top: 'connection pool exhausted' ×300". */
  readonly summary: string;
  /** Structured evidence (the diagnostic's declared output); absent when it could not run. */
  readonly data?: O;
  /** What went wrong running it (unreachable, timed out, permission), safe to show. */
  readonly error?: string;
  readonly durationMs: number;
}

/** Everything a diagnostic may use. Adapters are the bot's pooled ones; the clock is injected. */
export interface DiagnosticContext {
  readonly inventory: Inventory;
  readonly ssh: RemoteCommandRunner;
  readonly db: FleetDatabase;
  readonly cache: FleetCache;
  /** Bearer token for /health/detailed (the QNWIS admin token), if configured. */
  readonly adminToken: string | undefined;
  /** Per-step deadline, ms (default 5000). */
  readonly stepTimeoutMs: number;
  readonly now: () => Date;
}

export interface Diagnostic<I extends z.ZodType = z.ZodType, O = unknown> {
  /** Stable name: job data, audit, slash commands. */
  readonly name: string;
  /** Human title, e.g. "Error log (last 500 lines)". */
  readonly title: string;
  /** The runbook command or query it stands for, shown to people. */
  readonly runbook: string;
  readonly input: I;
  /**
   * Runs against one target (a host, or the fleet). Must resolve within ctx.stepTimeoutMs (+ a
   * margin) and never reject for a host/service problem: those are results with a status.
   */
  run(ctx: DiagnosticContext, input: z.infer<I>): Promise<DiagnosticResult<O>>;
}
