/**
 * Runs a plan's steps in order, the same way for every command: report `running`, run the step's
 * handler, report how it ended; stop at the first failure; check the cancel signal between steps
 * (never inside one: a `systemctl restart` half-sent is worse than one that finishes); report every
 * step that never ran as `skipped`. Handlers return a result for expected failures and may throw
 * for the rest; a throw becomes a `failed` step, never a rejected run.
 */
import { QnwisError } from '../../errors.js';
import { oneLine } from '../diagnostics/common.js';
import type {
  CommandOutcome,
  CommandPlan,
  JsonObject,
  ProgressReporter,
  StepProgress,
  StepRecord,
} from './types.js';

export type StepResult =
  | { readonly status: 'done'; readonly detail: string }
  | { readonly status: 'failed'; readonly detail: string }
  /** The step stopped early because the signal was aborted (e.g. a health gate's wait). */
  | { readonly status: 'cancelled'; readonly detail: string };

/** Runs one step; `signal` lets a waiting step (a health gate) stop early on Cancel. */
export type StepHandler = (signal: AbortSignal) => Promise<StepResult>;

export interface RunStepsOptions {
  readonly plan: CommandPlan;
  /** One handler per plan step id. */
  readonly handlers: Readonly<Record<string, StepHandler>>;
  readonly report: ProgressReporter;
  readonly signal: AbortSignal;
  /** Read once at the end: what the handlers recorded for verification. */
  readonly observations?: () => JsonObject;
}

/** A thrown error as one safe line: our typed errors' messages, else only the class name. */
export function errorText(err: unknown): string {
  if (err instanceof QnwisError) return oneLine(err.message, 400);
  const name = err instanceof Error ? err.name : typeof err;
  return `unexpected ${name} (see the bot's log)`;
}

export async function runSteps(opts: RunStepsOptions): Promise<CommandOutcome> {
  const { plan, handlers, signal } = opts;
  const missing = plan.steps.filter((s) => !Object.hasOwn(handlers, s.id)).map((s) => s.id);
  if (missing.length > 0) throw new TypeError(`${plan.command}: no handler for step ${missing.join(', ')}`);

  const report = async (p: StepProgress) => {
    try {
      await opts.report(p);
    } catch {
      // See ProgressReporter: a lost progress line never stops a command half-way.
    }
  };
  const records: StepRecord[] = [];
  const total = plan.steps.length;
  let status: CommandOutcome['status'] = 'succeeded';
  let detail = `${total}/${total} steps done`;

  for (const [i, step] of plan.steps.entries()) {
    if (status !== 'succeeded') {
      const why = status === 'failed' ? 'not run: an earlier step failed' : 'not run: cancelled';
      records.push({ stepId: step.id, status: 'skipped', detail: why });
      await report({ stepId: step.id, status: 'skipped', detail: why });
      continue;
    }
    if (signal.aborted) {
      status = 'cancelled';
      detail = `cancelled before step ${i + 1}/${total} (${step.id}); ${doneCount(records)} done`;
      const why = 'not run: cancelled';
      records.push({ stepId: step.id, status: 'skipped', detail: why });
      await report({ stepId: step.id, status: 'skipped', detail: why });
      continue;
    }
    await report({ stepId: step.id, status: 'running', detail: step.description });
    let result: StepResult;
    try {
      const handler = handlers[step.id];
      if (!handler) throw new TypeError(`no handler for step ${step.id}`);
      result = await handler(signal);
    } catch (err) {
      result = { status: 'failed', detail: errorText(err) };
    }
    if (result.status === 'done') {
      records.push({ stepId: step.id, status: 'done', detail: result.detail });
      await report({ stepId: step.id, status: 'done', detail: result.detail });
    } else if (result.status === 'failed') {
      status = 'failed';
      detail = `failed at step ${i + 1}/${total} (${step.id}): ${result.detail}`;
      records.push({ stepId: step.id, status: 'failed', detail: result.detail });
      await report({ stepId: step.id, status: 'failed', detail: result.detail });
    } else {
      status = 'cancelled';
      detail = `cancelled during step ${i + 1}/${total} (${step.id}): ${result.detail}`;
      records.push({ stepId: step.id, status: 'skipped', detail: result.detail });
      await report({ stepId: step.id, status: 'skipped', detail: result.detail });
    }
  }
  return { status, steps: records, detail: oneLine(detail, 600), observations: opts.observations?.() ?? {} };
}

function doneCount(records: readonly StepRecord[]): string {
  const n = records.filter((r) => r.status === 'done').length;
  return `${n} step${n === 1 ? '' : 's'}`;
}
