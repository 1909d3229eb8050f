/**
 * The executable side of the command catalog (issue 6, item 1): what every command module does
 * beside its catalog entry (src/ops/commands/catalog.ts holds the name, zod arguments, risk and
 * approval rule). The lifecycle, in order:
 *
 * 1. `plan(ctx, args)` — before anyone approves: the exact steps, per host, in order, the blast
 *    radius, and the facts the precheck will compare against (e.g. the backend's query text and
 *    start times). Plain JSON, so it can be shown, stored in a job and hashed for approvals
 *    (src/incidents/approvals.ts `planHash`): a different plan is a different hash. It may refuse
 *    (`PlanRefusedError`) when there is nothing sensible to plan, e.g. a pid that runs no query.
 * 2. `precheck(ctx, args, plan)` — at run time, after the approvals: is it still the right thing to
 *    do? Never throws; a refusal carries a sentence for the thread.
 * 3. `run(ctx, args, plan, report, signal)` — the steps in the plan's order, each reported
 *    (`running`, then `done` / `failed` / `skipped`). When `signal` is aborted (the Cancel button)
 *    it stops between steps: the remaining steps are reported `skipped`. Never throws for a host
 *    problem: a failed step ends the run with `failed` and the steps after it are skipped.
 * 4. `verify(ctx, args, plan, outcome)` — re-runs the relevant diagnostic and says whether the
 *    command had its effect, with before/after for the thread.
 *
 * The context is the diagnostics' (inventory, SSH, database, cache, admin token, step deadline,
 * clock) plus `sleep`, so health gates and polls run on an injected clock in tests.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { UserFacingError } from '../../errors.js';
import type { AlertmanagerSilences } from '../adapters/alertmanager.js';
import type { ChangeEventsPort } from '../adapters/pagerduty-change.js';
import type { DiagnosticContext, DiagnosticResult } from '../diagnostics/types.js';
import type { CommandName } from './catalog.js';

// ---------------------------------------------------------------------------------------------
// Plain data

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

// ---------------------------------------------------------------------------------------------
// Context

export interface CommandContext extends DiagnosticContext {
  /**
   * Waits `ms` on the context's clock (`now`). Resolves early, never rejects, when `signal` is
   * aborted: callers check the signal themselves. Tests pass one that advances a fake clock.
   */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * This environment's Alertmanager (silences), when the inventory names one
   * (`monitoring.alertmanager_url`). Optional: commands that need it say so in their plan.
   */
  readonly alertmanager?: AlertmanagerSilences;
  /** PagerDuty change events (Events API v2), when a routing key is configured. Optional. */
  readonly changeEvents?: ChangeEventsPort;
  /**
   * The request (or approval) this run belongs to, e.g. "REQ-42", when the caller has one.
   * Commands that leave a trace outside the bot (a silence comment, a change event) quote it.
   * Per request: pass `{ ...ctx, requestRef }`.
   */
  readonly requestRef?: string;
}

/** Real-time sleep: resolves after `ms`, or as soon as `signal` aborts. */
export async function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await delay(Math.max(0, ms), undefined, signal ? { signal } : {}).catch(() => undefined);
}

/** A command context from a diagnostic context (the system clock and real sleep unless given). */
export function createCommandContext(
  diagnostics: DiagnosticContext,
  opts: { sleep?: CommandContext['sleep'] } = {},
): CommandContext {
  return { ...diagnostics, sleep: opts.sleep ?? realSleep };
}

// ---------------------------------------------------------------------------------------------
// Plan

/**
 * What a step does, for rendering (an icon, a verb): `capture` reads state the later steps or the
 * verification need; `remote-command` runs a runbook template over SSH; `health-gate` polls a
 * health endpoint until it passes or its deadline expires; `sql` runs a statement of the database
 * adapter.
 */
export type StepKind = 'capture' | 'remote-command' | 'health-gate' | 'sql';

export interface PlanStep {
  /** Stable within the plan ("restart", "health-gate"); progress reports name it. */
  readonly id: string;
  /** Inventory host the step acts on, when it acts on one. */
  readonly host?: string;
  /** One line for the approval message: what exactly runs where. */
  readonly description: string;
  readonly kind: StepKind;
  /** The step's own time bound in seconds, when it has a fixed one (SSH template, health gate). */
  readonly timeoutSec?: number;
}

export interface CommandPlan<F extends JsonObject = JsonObject> {
  readonly command: CommandName;
  /** "restart app-02". */
  readonly summary: string;
  /** In execution order. */
  readonly steps: readonly PlanStep[];
  /** What may be affected, for people: "1 of 3 app hosts", "1 backend on db-primary". */
  readonly blastRadius: string;
  /** What the plan was made from, for the precheck and verification (and the approvers). */
  readonly facts: F;
}

/**
 * The command cannot be planned (nothing to act on, or the inventory does not have it). The
 * message is a sentence for the person who asked.
 */
export class PlanRefusedError extends UserFacingError {
  readonly command: CommandName;
  constructor(command: CommandName, message: string) {
    super(`${command}: ${message}`);
    this.command = command;
  }
}

// ---------------------------------------------------------------------------------------------
// Precheck

export type PrecheckResult =
  | { readonly ok: true; readonly detail?: string }
  | { readonly ok: false; readonly reason: string };

// ---------------------------------------------------------------------------------------------
// Run

export type StepStatus = 'running' | 'done' | 'failed' | 'skipped';

/** One progress report: a step started (`running`) or ended. */
export interface StepProgress {
  readonly stepId: string;
  readonly status: StepStatus;
  readonly detail: string;
}

/**
 * Receives each report in order and is awaited before the command goes on. If it rejects, the
 * command continues regardless (a half-done restart is worse than a missing progress line).
 */
export type ProgressReporter = (progress: StepProgress) => Promise<void>;

export interface StepRecord {
  readonly stepId: string;
  /** How the step ended; `skipped` for steps never started (after a failure or a cancel). */
  readonly status: Exclude<StepStatus, 'running'>;
  readonly detail: string;
}

export interface CommandOutcome {
  /** `succeeded`: every step done; `failed`: a step failed; `cancelled`: stopped by the signal. */
  readonly status: 'succeeded' | 'failed' | 'cancelled';
  /** One entry per plan step, in plan order. */
  readonly steps: readonly StepRecord[];
  /** One line: what happened, and where it stopped. */
  readonly detail: string;
  /** What the run saw that verification compares against (e.g. the MainPID before a restart). */
  readonly observations: JsonObject;
}

// ---------------------------------------------------------------------------------------------
// Verify

export interface VerifyResult {
  /** The command had its intended effect. */
  readonly ok: boolean;
  /** The state before, as far as known (from the plan or the run). */
  readonly before?: string;
  /** The state now, from the re-run diagnostic. */
  readonly after: string;
  /** Why `ok` is what it is. */
  readonly detail: string;
  /** The diagnostics re-run, as evidence for the thread. */
  readonly evidence: readonly DiagnosticResult[];
}

// ---------------------------------------------------------------------------------------------
// The module

/**
 * A command's plan, precheck, run and verification. `A` is the catalog's resolved arguments
 * (`CommandArgs[name]`), `F` the facts its plan carries. Methods never see unvalidated input: the
 * caller parses with the catalog (`parseCommand`) first.
 */
export interface CommandModule<A, F extends JsonObject = JsonObject> {
  readonly name: CommandName;
  plan(ctx: CommandContext, args: A): Promise<CommandPlan<F>>;
  precheck(ctx: CommandContext, args: A, plan: CommandPlan<F>): Promise<PrecheckResult>;
  run(
    ctx: CommandContext,
    args: A,
    plan: CommandPlan<F>,
    report: ProgressReporter,
    signal: AbortSignal,
  ): Promise<CommandOutcome>;
  /** `outcome` is the run's (its observations); verification never changes anything. */
  verify(ctx: CommandContext, args: A, plan: CommandPlan<F>, outcome: CommandOutcome): Promise<VerifyResult>;
}
