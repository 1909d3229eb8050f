/**
 * The messages of a command request (issue 6, items 3 and 5), pure:
 *
 * - the approval message: what will run (the plan's steps in order, hosts, health gates, blast
 *   radius), risk, who asked, who may approve, the approvals so far, when it expires (Slack's
 *   date token counts down in each reader's time zone), and Approve / Reject / Cancel. Approve
 *   carries the plan hash the approver is looking at, so an approval is bound to that plan.
 *   Destructive commands get Slack confirm dialogs. Updated in place as the request moves on.
 * - the progress message in the thread: one line per step, updated as each step ends.
 * - the result reply: the outcome, verify's before/after.
 */
import type { ActionsBlock, Button, KnownBlock } from '@slack/web-api';
import { z } from 'zod';
import type { CommandRequestRow, RecordedStep, RequestState } from '../../store/requests.js';
import { checkSlackLimits } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, plain, truncateEscaped } from './text.js';

export const REQUEST_ACTIONS = {
  approve: 'request.approve',
  reject: 'request.reject',
  cancel: 'request.cancel',
} as const;

/** A button's value: the request and the plan hash shown on the message clicked. */
export const requestButtonValue = z.strictObject({
  r: z.string().regex(/^R-[0-9A-Z]{8}$/),
  h: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});
export type RequestButtonValue = z.infer<typeof requestButtonValue>;

export interface PlanStepView {
  readonly id: string;
  readonly host?: string;
  readonly description: string;
  readonly timeoutSec?: number;
}

export interface ApprovalView {
  readonly approverId: string;
  readonly level: string;
  readonly at: Date;
}

export interface ApprovalMessageInput {
  readonly request: CommandRequestRow;
  readonly approvals: readonly ApprovalView[];
  /** "1 approval by L2 or above" (the rule that applies, break-glass included). */
  readonly ruleText: string;
  /** "1 more approval by L2 or above", or "none". */
  readonly missing: string;
  /** Who may approve, for the reader: "<@U2> (L2), <!subteam^S1> (L3)". */
  readonly approvers: string;
  /** "INC QNWIS-12" link text, when the request belongs to an incident. */
  readonly incidentKey?: string | null;
  readonly now: Date;
}

const STATE_LINE: Readonly<Record<RequestState, string>> = {
  pending: '⏳ Waiting for approval',
  approved: '✅ Approved — queued to run',
  running: '⚙️ Running — progress in the thread',
  succeeded: '✅ Done — succeeded and verified',
  failed: '❌ Failed',
  cancelled: '⏹️ Cancelled',
  rejected: '🚫 Rejected',
  expired: '⌛ Expired — nobody approved it in time',
  interrupted: '⚠️ Interrupted — an operator must decide',
  refused: '🛑 Not run — refused at run time',
};

/** Slack's limit on a confirm dialog's text. */
const CONFIRM_TEXT_MAX = 300;

/** Room for the plan's step lines in one section (3000) after its heading. */
const PLAN_TEXT_BUDGET = 2700;

const RISK_ICON: Readonly<Record<string, string>> = {
  low: '🟢 low',
  medium: '🟡 medium',
  high: '🟠 high',
  critical: '🔴 critical',
};

/** `<!date^…>` renders in the reader's time zone; the fallback is UTC for clients that cannot. */
export function slackDate(at: Date, format: string): string {
  const sec = Math.floor(at.getTime() / 1000);
  const fallback = `${at.toISOString().slice(11, 16)} UTC`;
  return `<!date^${sec}^${format}|${fallback}>`;
}

function planSteps(request: CommandRequestRow): PlanStepView[] {
  const steps = (request.plan as { steps?: unknown }).steps;
  if (!Array.isArray(steps)) return [];
  return steps.filter(
    (s): s is PlanStepView =>
      typeof s === 'object' && s !== null && typeof (s as PlanStepView).id === 'string',
  );
}

function blastRadius(request: CommandRequestRow): string {
  const b = (request.plan as { blastRadius?: unknown }).blastRadius;
  return typeof b === 'string' ? b : 'unknown';
}

function shortHash(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}

function button(
  text: string,
  actionId: string,
  value: RequestButtonValue,
  style?: 'primary' | 'danger',
  confirm?: { title: string; text: string; confirm: string },
): Button {
  return {
    type: 'button',
    text: plain(text, 75),
    action_id: actionId,
    value: JSON.stringify(value),
    ...(style ? { style } : {}),
    ...(confirm
      ? {
          confirm: {
            title: plain(confirm.title, 100),
            text: mrkdwn(confirm.text),
            confirm: plain(confirm.confirm, 30),
            deny: plain('Go back', 30),
            style: 'danger' as const,
          },
        }
      : {}),
  };
}

/** The approval message, in its current state. */
export function approvalMessage(input: ApprovalMessageInput): { text: string; blocks: KnownBlock[] } {
  const r = input.request;
  const steps = planSteps(r);
  // A section holds 3000 characters: whole step lines while they fit, then a count of the rest.
  const lines: string[] = [];
  let used = 0;
  for (const [i, s] of steps.entries()) {
    const line = `${i + 1}. ${escapeTruncate(oneLine(s.description), 280)}`;
    if (used + line.length + 1 > PLAN_TEXT_BUDGET) break;
    lines.push(line);
    used += line.length + 1;
  }
  const stepLines = lines.join('\n');
  const more = steps.length > lines.length ? `\n…and ${steps.length - lines.length} more steps` : '';
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: plain(`${r.state === 'pending' ? 'Approval needed: ' : ''}${oneLine(r.summary)}`, 150),
    },
    {
      type: 'section',
      text: mrkdwn(
        `*${STATE_LINE[r.state]}*${r.stateDetail && r.state !== 'pending' ? ` — ${escapeTruncate(oneLine(r.stateDetail), 600)}` : ''}`,
        { verbatim: true },
      ),
    },
    {
      type: 'section',
      fields: [
        mrkdwn(`*Requested by*\n<@${r.requester.id}> (${r.requester.level})`, { verbatim: true }),
        mrkdwn(
          `*Risk*\n${RISK_ICON[r.risk] ?? escapeTruncate(r.risk, 20)}${r.destructive ? ' · destructive' : ''}`,
        ),
        mrkdwn(`*Needs*\n${escapeTruncate(input.ruleText, 200)}${r.breakGlass ? ' (break-glass)' : ''}`),
        mrkdwn(`*Blast radius*\n${escapeTruncate(blastRadius(r), 200)}`),
      ],
    },
    {
      type: 'section',
      text: mrkdwn(`*Plan* (\`${shortHash(r.planHash)}\`)\n${stepLines || '(no steps)'}${more}`, {
        verbatim: true,
      }),
    },
  ];
  const approvals =
    input.approvals.length === 0
      ? 'No approvals yet.'
      : `Approved by ${input.approvals
          .map((a) => `<@${a.approverId}> (${a.level}) ${slackDate(a.at, '{time}')}`)
          .join(', ')}.`;
  const context: string[] = [approvals];
  if (r.state === 'pending') {
    if (input.missing !== 'none') context.push(`Still needs ${escapeTruncate(input.missing, 200)}.`);
    // Built by the bot from role configuration (mentions): not escaped, only bounded.
    context.push(`Who may approve: ${oneLine(input.approvers).slice(0, 600)} (not the requester).`);
    if (r.expiresAt) context.push(`Expires ${slackDate(r.expiresAt, '{time} ({ago})')}.`);
  }
  if (input.incidentKey) context.push(`Incident ${escapeTruncate(input.incidentKey, 40)}.`);
  context.push(`Request ${r.id}.`);
  blocks.push({ type: 'context', elements: [mrkdwn(context.join(' '), { verbatim: true })] });

  const value: RequestButtonValue = { r: r.id, h: r.planHash };
  const actions: Button[] = [];
  if (r.state === 'pending') {
    const confirm = r.destructive
      ? {
          title: 'Approve a destructive command?',
          // Slack refuses a confirm text over 300 characters (invalid_blocks).
          text: truncateEscaped(
            `You approve exactly this plan: *${escapeTruncate(r.summary, 80)}* (${escapeTruncate(blastRadius(r), 120)}). The bot cannot undo it.`,
            CONFIRM_TEXT_MAX,
          ),
          confirm: 'Approve',
        }
      : undefined;
    actions.push(button('Approve', REQUEST_ACTIONS.approve, value, 'primary', confirm));
    actions.push(button('Reject', REQUEST_ACTIONS.reject, value, 'danger'));
  }
  if (r.state === 'pending' || r.state === 'approved' || r.state === 'running') {
    actions.push(
      button(
        r.state === 'running' ? 'Cancel (stop between steps)' : 'Cancel request',
        REQUEST_ACTIONS.cancel,
        value,
        undefined,
        r.state === 'running'
          ? {
              title: 'Stop this command?',
              text: 'It stops before the next step; steps already done stay done.',
              confirm: 'Stop it',
            }
          : undefined,
      ),
    );
  }
  if (actions.length > 0) {
    const block: ActionsBlock = { type: 'actions', block_id: `request-${r.id}`, elements: actions };
    blocks.push(block);
  }
  const text = `${STATE_LINE[r.state]}: ${oneLine(r.summary)} (requested by <@${r.requester.id}>)`.slice(
    0,
    300,
  );
  const message = { text, blocks };
  const problems = checkSlackLimits(message);
  if (problems.length > 0)
    throw new RangeError(`approval message breaks Slack limits: ${problems.join('; ')}`);
  return message;
}

const STEP_ICON: Readonly<Record<RecordedStep['status'] | 'running' | 'waiting', string>> = {
  done: '✓',
  failed: '✗',
  skipped: '–',
  running: '▸',
  waiting: '·',
};

export interface ProgressInput {
  readonly request: Pick<CommandRequestRow, 'id' | 'summary' | 'plan' | 'state' | 'stateDetail'>;
  readonly steps: readonly RecordedStep[];
  /** The step running now, if any. */
  readonly running: string | null;
}

/** "⚙️ restart app-02 — 2/3 steps: ✓ record-pid ✓ restart ▸ health-gate", one line per step. */
export function progressMessage(input: ProgressInput): { text: string; blocks: KnownBlock[] } {
  const planned = planSteps(input.request as CommandRequestRow);
  const byId = new Map(input.steps.map((s) => [s.stepId, s]));
  const done = input.steps.filter((s) => s.status === 'done').length;
  const state = input.request.state;
  const icon =
    state === 'running' ? '⚙️' : state === 'succeeded' ? '✅' : state === 'interrupted' ? '⚠️' : '❌';
  const head = `${icon} *${escapeTruncate(input.request.summary, 200)}* — ${done}/${planned.length} steps done`;
  const lines = planned.slice(0, 40).map((p) => {
    const rec = byId.get(p.id);
    const status = rec ? rec.status : input.running === p.id ? 'running' : 'waiting';
    const what = rec ? oneLine(rec.detail) : oneLine(p.description);
    return `${STEP_ICON[status]} \`${escapeTruncate(p.id, 40)}\` ${escapeTruncate(what, 250)}`;
  });
  const body = lines.join('\n');
  const blocks: KnownBlock[] = [
    { type: 'section', text: mrkdwn(`${head}\n${escapeTruncate(body, 2500)}`, { verbatim: true }) },
  ];
  if (input.request.stateDetail && state !== 'running') {
    blocks.push({
      type: 'context',
      elements: [mrkdwn(escapeTruncate(oneLine(input.request.stateDetail), 600), { verbatim: true })],
    });
  }
  return { text: `${input.request.summary}: ${done}/${planned.length} steps done`.slice(0, 300), blocks };
}

export interface ResultInput {
  readonly request: Pick<CommandRequestRow, 'id' | 'summary' | 'state' | 'stateDetail'>;
  readonly verification: {
    readonly ok: boolean;
    readonly before?: string;
    readonly after: string;
    readonly detail: string;
  } | null;
  readonly durationMs: number;
}

/** The thread reply when a command ends: outcome, and verify's before/after. */
export function resultMessage(input: ResultInput): { text: string; blocks: KnownBlock[] } {
  const { request: r, verification: v } = input;
  const icon =
    r.state === 'succeeded' ? (v?.ok === false ? '⚠️' : '✅') : r.state === 'cancelled' ? '⏹️' : '❌';
  const secs = Math.round(input.durationMs / 100) / 10;
  const head = `${icon} *${escapeTruncate(r.summary, 200)}* ${r.state} in ${secs} s — ${escapeTruncate(oneLine(r.stateDetail ?? ''), 800)}`;
  const blocks: KnownBlock[] = [{ type: 'section', text: mrkdwn(head, { verbatim: true }) }];
  if (v) {
    blocks.push({
      type: 'section',
      text: mrkdwn(
        `*Verification:* ${v.ok ? '✓ passed' : '✗ did not pass'} — ${escapeTruncate(oneLine(v.detail), 800)}\n` +
          `*Before:* ${escapeTruncate(oneLine(v.before ?? 'not recorded'), 600)}\n` +
          `*After:* ${escapeTruncate(oneLine(v.after), 600)}`,
        { verbatim: true },
      ),
    });
  }
  blocks.push({ type: 'context', elements: [mrkdwn(`Request ${r.id}`)] });
  return { text: `${r.summary}: ${r.state}`.slice(0, 300), blocks };
}
