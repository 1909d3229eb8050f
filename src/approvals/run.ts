/**
 * The `commands` queue's worker (issue 6, items 4 and 5): runs an approved request once.
 *
 *   1. The request must be `approved`. A job for a request that is already finished is a
 *      duplicate (double click, replay, second replica): nothing happens.
 *   2. Re-check at run time: the quorum with each approver's *current* role (a demoted approver no
 *      longer counts), the plan hash, break-glass still open if it decided the rule; then the
 *      command's own precheck (is it still the right thing to do?). A "no" ends it `refused`.
 *   3. Claim it in Postgres (approved → running): only one worker gets it.
 *   4. Run step by step: each ended step is stored and the progress message in the thread is
 *      updated; a Cancel click is seen between steps.
 *   5. Verify, store the result with before/after, tell the thread, update the approval message,
 *      and note it on the incident's timeline.
 *
 * A job found `running` means a worker died mid-way (BullMQ's stalled-job retry). A destructive
 * command is never started again by itself: it ends `interrupted` and the thread lists the steps
 * that completed and asks an operator to decide. A non-destructive one starts over.
 */
import type { Job } from 'bullmq';
import { z } from 'zod';
import { progressMessage, resultMessage } from '../bot/blocks/approval-message.js';
import type { ChatClient } from '../bot/chat.js';
import type { RoleDirectory } from '../bot/roles.js';
import type { ApprovalPolicy } from '../incidents/approvals.js';
import { evaluateQuorum } from '../incidents/approvals.js';
import type { Logger } from '../observability/logger.js';
import { commandRunsTotal, commandSeconds } from '../observability/metrics.js';
import { commandModule } from '../ops/commands/index.js';
import { errorText } from '../ops/commands/steps.js';
import type {
  CommandContext,
  CommandOutcome,
  CommandPlan,
  StepProgress,
  VerifyResult,
} from '../ops/commands/types.js';
import type { IncidentStore } from '../store/incidents.js';
import type { CommandRequestRow, RecordedStep, RequestStore } from '../store/requests.js';
import { asApproval, asApprovalRequest, asWindow, type CommandRequests } from './service.js';

export const commandJobs = {
  'run-command': z.object({ requestId: z.string().regex(/^R-[0-9A-Z]{8}$/) }),
  sweep: z.object({}),
} as const;

export interface CommandWorkerDeps {
  readonly store: RequestStore;
  readonly incidents: IncidentStore;
  readonly requests: CommandRequests;
  readonly context: CommandContext;
  readonly policy: ApprovalPolicy;
  readonly roles: RoleDirectory;
  readonly chat: ChatClient;
  readonly log: Logger;
  /** Identifies this worker in the claim ("host:pid"). */
  readonly workerId: string;
  /** Re-renders an incident's message (enqueues its Slack sync). */
  readonly onIncidentChanged?: (incidentId: number) => Promise<void>;
  /** How often a running command looks for a Cancel click (default 1000 ms). */
  readonly cancelPollMs?: number;
  readonly now?: () => Date;
}

export function createCommandProcessor(deps: CommandWorkerDeps) {
  const now = deps.now ?? (() => new Date());
  const log = deps.log.child({ component: 'commands' });

  async function say(row: CommandRequestRow, message: { text: string; blocks?: unknown[] }): Promise<void> {
    try {
      await deps.chat.postMessage(
        row.channelId,
        message as never,
        row.threadTs ?? row.messageTs ?? undefined,
      );
    } catch (err) {
      log.warn({ err, request: row.id }, 'thread reply could not be posted');
    }
  }

  async function showProgress(
    row: CommandRequestRow,
    steps: readonly RecordedStep[],
    running: string | null,
  ) {
    const message = progressMessage({ request: row, steps, running });
    try {
      if (row.progressTs) await deps.chat.updateMessage(row.channelId, row.progressTs, message);
      else {
        const posted = await deps.chat.postMessage(
          row.channelId,
          message,
          row.threadTs ?? row.messageTs ?? undefined,
        );
        await deps.store.setProgressMessage(row.id, posted.ts);
        (row as { progressTs: string | null }).progressTs = posted.ts;
      }
    } catch (err) {
      log.warn({ err, request: row.id }, 'progress message could not be posted');
    }
  }

  async function noteOnIncident(row: CommandRequestRow, text: string, succeeded = false): Promise<void> {
    if (row.incidentId === null) return;
    try {
      await deps.incidents.recordCommand(row.incidentId, { requestId: row.id, line: text, succeeded });
      await deps.onIncidentChanged?.(row.incidentId);
    } catch (err) {
      log.warn({ err, request: row.id }, 'incident timeline note failed');
    }
  }

  /** Why the request may not run now, or null: quorum with current roles, break-glass, plan hash. */
  async function policyRecheck(row: CommandRequestRow): Promise<string | null> {
    const at = now();
    const approvals = await deps.store.approvals(row.id);
    const current = await Promise.all(
      approvals.map(async (a) => asApproval(a, (await deps.roles.roleOf(a.approverId)).role)),
    );
    const window = row.breakGlass ? asWindow(await deps.store.activeBreakGlass(at)) : null;
    const quorum = evaluateQuorum(deps.policy, {
      request: asApprovalRequest(row),
      approvals: current,
      // Approvals count from when they were given to when the quorum was met; the run may start later.
      now: (row.approvedAt ?? at).getTime(),
      breakGlass: window,
    });
    if (quorum.satisfied) return null;
    const why = quorum.ignored.map((i) => i.reason).join('; ');
    return `the approvals no longer meet the policy (${quorum.missing} needed${why ? `: ${why}` : ''}${row.breakGlass && !window ? '; the break-glass window that decided the rule has ended' : ''})`;
  }

  async function interrupted(row: CommandRequestRow): Promise<void> {
    const done = row.steps.filter((s) => s.status === 'done').map((s) => s.stepId);
    // The first step without a record was running when the worker died: it may have had its effect.
    const planned = ((row.plan as { steps?: { id?: unknown }[] }).steps ?? []).map((s) => String(s.id));
    const inFlight = planned.find((id) => !row.steps.some((s) => s.stepId === id));
    const text =
      `the worker running it stopped mid-way (${row.claimedBy ?? 'unknown worker'}); ` +
      (done.length > 0 ? `steps completed: ${done.join(', ')}` : 'no step had completed') +
      (inFlight ? `; ${inFlight} was in progress and may have partly run` : '') +
      '. It will not run again by itself: check the state and request what is still needed.';
    const ended = await deps.store.interrupt(row.id, text, now());
    if (!ended) return;
    await showProgress(ended, ended.steps, null);
    await say(ended, {
      text: `⚠️ ${row.summary} was interrupted: ${text}`,
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            verbatim: true,
            text: `⚠️ *${row.summary}* was interrupted — ${text}\n<!here> an operator must decide what to do next.`,
          },
        },
      ],
    });
    await deps.requests.refreshMessage(row.id);
    await noteOnIncident(ended, `⚠️ ${row.summary} interrupted (${done.length} steps done)`);
  }

  async function runOne(requestId: string): Promise<string> {
    let row = await deps.store.get(requestId);
    if (!row) return 'unknown request';
    if (row.state === 'running') {
      if (row.destructive) {
        await interrupted(row);
        return 'interrupted';
      }
      log.warn({ request: row.id }, 'restarting a non-destructive command after a lost worker');
    } else if (row.state !== 'approved') {
      return `already ${row.state}`;
    }
    const module = commandModule(row.command as never);
    // The request id travels with the run: silences and change events quote it.
    const ctx = { ...deps.context, requestRef: row.id };
    if (!module) {
      await deps.store.refuse(row.id, `${row.command} has no implementation`, now());
      await deps.requests.refreshMessage(row.id);
      return 'refused';
    }
    if (row.state === 'approved') {
      const policyProblem = await policyRecheck(row);
      const precheck = policyProblem
        ? { ok: false as const, reason: policyProblem }
        : await module
            .precheck(ctx, row.args as never, row.plan as unknown as CommandPlan)
            .catch((err: unknown) => ({ ok: false as const, reason: `precheck failed: ${errorText(err)}` }));
      if (!precheck.ok) {
        const refused = await deps.store.refuse(row.id, `not run: ${precheck.reason}`, now());
        if (refused) {
          await say(refused, { text: `🛑 ${row.summary} was not run: ${precheck.reason}` });
          await deps.requests.refreshMessage(row.id);
          await noteOnIncident(refused, `🛑 ${row.summary} not run: ${precheck.reason}`);
        }
        return 'refused';
      }
    }
    const claimed = await deps.store.claim(
      row.id,
      deps.workerId,
      now(),
      row.state === 'running' ? ['running'] : ['approved'],
    );
    if (!claimed) return 'claimed elsewhere';
    row = claimed;
    const started = now();
    await deps.requests.refreshMessage(row.id);
    const steps: RecordedStep[] = [];
    await showProgress(row, steps, null);

    const abort = new AbortController();
    const poll = setInterval(() => {
      deps.store
        .cancelRequested(requestId)
        .then((yes) => {
          if (yes) abort.abort();
        })
        .catch(() => undefined);
    }, deps.cancelPollMs ?? 1000);
    let outcome: CommandOutcome;
    const current = row;
    try {
      outcome = await module.run(
        ctx,
        row.args as never,
        row.plan as unknown as CommandPlan,
        async (p: StepProgress) => {
          if (p.status === 'running') {
            await showProgress(current, steps, p.stepId);
            return;
          }
          const rec: RecordedStep = {
            stepId: p.stepId,
            status: p.status,
            detail: p.detail,
            at: now().toISOString(),
          };
          steps.push(rec);
          await deps.store.recordStep(requestId, rec);
          await showProgress(current, steps, null);
        },
        abort.signal,
      );
    } finally {
      clearInterval(poll);
    }
    let verification: VerifyResult | null = null;
    if (outcome.steps.some((s) => s.status === 'done')) {
      verification = await module
        .verify(ctx, row.args as never, row.plan as unknown as CommandPlan, outcome)
        .catch((err: unknown) => ({
          ok: false,
          after: 'verification could not run',
          detail: errorText(err),
          evidence: [],
        }));
    }
    const state = outcome.status;
    const detail =
      state === 'succeeded' && verification && !verification.ok
        ? `${outcome.detail}; verification did not pass: ${verification.detail}`
        : outcome.detail;
    const finalState = state === 'succeeded' && verification && !verification.ok ? 'failed' : state;
    const finished = await deps.store.finish(
      row.id,
      finalState,
      detail,
      now(),
      verification
        ? {
            ok: verification.ok,
            before: verification.before ?? null,
            after: verification.after,
            detail: verification.detail,
          }
        : null,
    );
    const end = finished ?? row;
    await showProgress(end, steps, null);
    await say(
      end,
      resultMessage({
        request: end,
        verification,
        durationMs: now().getTime() - started.getTime(),
      }),
    );
    await deps.requests.refreshMessage(row.id);
    commandRunsTotal.inc({ command: row.command, state: finalState });
    commandSeconds.observe({ command: row.command }, (now().getTime() - started.getTime()) / 1000);
    const icon = finalState === 'succeeded' ? '✅' : finalState === 'cancelled' ? '⏹️' : '❌';
    await noteOnIncident(end, `${icon} ${row.summary} ${finalState} (${row.id})`, finalState === 'succeeded');
    return finalState;
  }

  return async function processCommandJob(job: Job): Promise<unknown> {
    if (job.name === 'sweep') return deps.requests.sweep();
    const data = commandJobs['run-command'].parse(job.data);
    const result = await runOne(data.requestId);
    log.info({ request: data.requestId, result }, 'command job done');
    return result;
  };
}
