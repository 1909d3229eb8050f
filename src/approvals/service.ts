/**
 * Command requests end to end on the bot's side (issue 6, items 2, 3, 6): a person asks (a
 * playbook button or `/qnwis <command> …`), the command module plans it, the approval policy
 * decides, the request is stored with its plan hash and an approval message is posted; Approve /
 * Reject / Cancel clicks go through the same policy; when the quorum is met the run is enqueued
 * once (job id = request id). Break-glass windows are opened and announced here; a periodic sweep
 * expires requests, re-enqueues approved ones whose job was lost and announces ended windows.
 *
 * Every answer to a person is a sentence they can act on; nothing here changes a host.
 */
import type { KnownBlock } from '@slack/web-api';
import type { Queue } from 'bullmq';
import { approvalMessage } from '../bot/blocks/approval-message.js';
import type { ChatClient } from '../bot/chat.js';
import { newRef } from '../bot/commands/register.js';
import type { RoleDirectory, RoleLevel } from '../bot/roles.js';
import { whoMeets } from '../bot/roles.js';
import { UserFacingError } from '../errors.js';
import {
  type Approval,
  type ApprovalPolicy,
  type ApprovalRequest,
  type ApprovalRuleKey,
  type BreakGlassWindow,
  describeRule,
  evaluateApproval,
  evaluateBreakGlass,
  evaluateQuorum,
  evaluateRequest,
  formatUtc,
  orAbove,
  type Person,
  planHash,
  type RequestDecision,
  ruleOf,
} from '../incidents/approvals.js';
import type { Inventory } from '../inventory.js';
import type { Logger } from '../observability/logger.js';
import { approvalsTotal } from '../observability/metrics.js';
import {
  describeCommand,
  isDestructive,
  type ParsedCommand,
  requestFacts,
  riskOf,
} from '../ops/commands/catalog.js';
import { type CommandContext, commandModule } from '../ops/commands/index.js';
import type { IncidentStore } from '../store/incidents.js';
import type { ApprovalRow, BreakGlassRow, CommandRequestRow, RequestStore } from '../store/requests.js';

export const COMMANDS_QUEUE = 'commands';

/** BullMQ job id of a request's run: one per request, whoever enqueues it (no ':' allowed). */
export function runJobId(requestId: string): string {
  return `run-${requestId}`;
}

export interface Where {
  readonly channelId: string;
  /** Post in this thread (an incident's); otherwise the approval message starts its own. */
  readonly threadTs: string | null;
  readonly incidentId: number | null;
}

export interface Asker {
  readonly id: string;
  readonly name: string | null;
}

export type RequestOutcome =
  | { readonly ok: true; readonly request: CommandRequestRow; readonly text: string }
  | { readonly ok: false; readonly text: string };

export interface CommandRequestsDeps {
  readonly store: RequestStore;
  readonly incidents: IncidentStore;
  readonly inventory: Inventory;
  readonly context: CommandContext;
  readonly policy: ApprovalPolicy;
  readonly roles: RoleDirectory;
  readonly chat: ChatClient;
  readonly queue: Queue;
  readonly log: Logger;
  readonly now?: () => Date;
}

function person(id: string, level: RoleLevel | null): Person {
  return { id, level, name: `<@${id}>` };
}

export function asApprovalRequest(r: CommandRequestRow): ApprovalRequest {
  return {
    id: r.id,
    command: r.command,
    summary: r.summary,
    ruleKey: r.ruleKey as ApprovalRequest['ruleKey'],
    requester: person(r.requester.id, r.requester.level),
    targets: r.targets,
    planHash: r.planHash,
    requestedAt: r.requestedAt.getTime(),
    expiresAt: (r.expiresAt ?? r.requestedAt).getTime(),
  };
}

export function asWindow(w: BreakGlassRow | undefined): BreakGlassWindow | null {
  if (!w) return null;
  return {
    grantedBy: person(w.grantedBy, w.grantedLevel),
    reason: w.reason,
    startsAt: w.startsAt.getTime(),
    endsAt: w.endsAt.getTime(),
  };
}

export function asApproval(a: ApprovalRow, level: RoleLevel | null = a.approverLevel): Approval {
  return { approver: person(a.approverId, level), planHash: a.planHash, at: a.at.getTime() };
}

export class CommandRequests {
  private readonly deps: CommandRequestsDeps;
  private readonly now: () => Date;

  constructor(deps: CommandRequestsDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  private get log() {
    return this.deps.log;
  }

  /** "<@U1> (L2), <@U2> (L3)" or the levels when nobody is mapped by name. */
  private whoMayApprove(minimum: RoleLevel): string {
    const who = whoMeets(this.deps.roles.policy, minimum);
    const names = [
      ...who.users.map((u) => `<@${u}>`),
      ...who.groups.map((g) => (g.startsWith('S') ? `<!subteam^${g}>` : `@${g}`)),
    ];
    return names.length > 0 ? `${orAbove(minimum)}: ${names.slice(0, 12).join(', ')}` : orAbove(minimum);
  }

  /** Asks for `command` as `asker` in `where`: plans, decides, stores, posts the approval message. */
  async request(asker: Asker, command: ParsedCommand, where: Where): Promise<RequestOutcome> {
    const { store, inventory, policy } = this.deps;
    const now = this.now();
    const level = (await this.deps.roles.roleOf(asker.id)).role;
    const facts = requestFacts(command, inventory);
    const window = asWindow(await store.activeBreakGlass(now));
    // Refuse outsiders and low levels before planning: planning reads the fleet.
    const early = evaluateRequest(policy, {
      command: facts,
      requester: person(asker.id, level),
      pending: [],
      now: now.getTime(),
      breakGlass: window,
    });
    if (!early.allowed) return { ok: false, text: `Not requested: ${early.reason}.` };
    const module = commandModule(command.name);
    if (!module) return { ok: false, text: `\`${command.name}\` cannot run yet: it has no implementation.` };
    const id = `R-${newRef()}`;
    let plan: Awaited<ReturnType<typeof module.plan>>;
    try {
      plan = await module.plan({ ...this.deps.context, requestRef: id }, command.args as never);
    } catch (err) {
      if (err instanceof UserFacingError) return { ok: false, text: `Not requested: ${err.message}` };
      throw err;
    }
    const hash = planHash({ command: command.name, args: command.args, targets: facts.targets, plan });
    let decision: RequestDecision | undefined;
    const created = await store.create((open) => {
      const d = evaluateRequest(policy, {
        command: facts,
        requester: person(asker.id, level),
        pending: open,
        now: now.getTime(),
        breakGlass: window,
      });
      decision = d;
      if (!d.allowed) return { refusal: d.reason };
      return {
        request: {
          id,
          command: command.name,
          args: command.args,
          summary: describeCommand(command),
          ruleKey: facts.ruleKey,
          risk: riskOf(command, inventory),
          destructive: isDestructive(command, inventory),
          targets: facts.targets,
          plan,
          planHash: hash,
          requester: { id: asker.id, name: asker.name, level: level as RoleLevel },
          incidentId: where.incidentId,
          channelId: where.channelId,
          threadTs: where.threadTs,
          requestedAt: now,
          expiresAt: d.expiresAt === null ? null : new Date(d.expiresAt),
          state: d.rule.approvals === 0 ? 'approved' : 'pending',
          breakGlass: d.breakGlass,
        },
      };
    });
    approvalsTotal.inc({
      command: command.name,
      decision: 'request',
      outcome: created.created ? 'created' : 'refused',
    });
    if (!created.created) return { ok: false, text: `Not requested: ${created.refusal}.` };
    const row = created.row;
    try {
      await this.postApprovalMessage(row);
    } catch (err) {
      // Nobody can approve what nobody sees, and it must not block its targets.
      await store.abandon(row.id, 'the approval message could not be posted in Slack', this.now());
      throw err;
    }
    if (row.state === 'approved') await this.enqueue(row.id);
    const after = (await store.get(row.id)) ?? row;
    const text =
      row.state === 'approved'
        ? `Requested ${row.id}: *${row.summary}* needs no approval; it is queued to run.`
        : `Requested ${row.id}: *${row.summary}* ${decision?.allowed ? decision.reason : ''}.`;
    return { ok: true, request: after, text };
  }

  /** Renders the approval message as the request stands now. */
  async renderApproval(row: CommandRequestRow): Promise<{ text: string; blocks: KnownBlock[] }> {
    const now = this.now();
    const approvals = await this.deps.store.approvals(row.id);
    const window = row.state === 'pending' ? asWindow(await this.deps.store.activeBreakGlass(now)) : null;
    const quorum = evaluateQuorum(this.deps.policy, {
      request: asApprovalRequest(row),
      approvals: approvals.map((a) => asApproval(a)),
      now: now.getTime(),
      breakGlass: row.breakGlass || window ? window : null,
    });
    const incident = row.incidentId ? await this.deps.incidents.get(row.incidentId) : undefined;
    return approvalMessage({
      request: row,
      approvals: quorum.counted.map((a) => ({
        approverId: a.approver.id,
        level: a.approver.level ?? '?',
        at: new Date(a.at),
      })),
      ruleText: describeRule(quorum.rule),
      missing: quorum.missing,
      approvers: this.whoMayApprove(quorum.rule.minimum),
      incidentKey: incident?.key ?? null,
      now,
    });
  }

  private async postApprovalMessage(row: CommandRequestRow): Promise<void> {
    const message = await this.renderApproval(row);
    const posted = await this.deps.chat.postMessage(row.channelId, message, row.threadTs ?? undefined);
    await this.deps.store.setMessage(row.id, posted.ts, row.threadTs ?? posted.ts);
  }

  /** Re-renders the approval message in place (never fails the caller: logged). */
  async refreshMessage(id: string): Promise<void> {
    const row = await this.deps.store.get(id);
    if (!row?.messageTs) return;
    try {
      await this.deps.chat.updateMessage(row.channelId, row.messageTs, await this.renderApproval(row));
    } catch (err) {
      this.log.warn({ err, request: id }, 'approval message could not be updated');
    }
  }

  async enqueue(id: string): Promise<void> {
    await this.deps.queue.add('run-command', { requestId: id }, { jobId: runJobId(id) });
  }

  /** An Approve click: the plan hash is the one on the message the approver saw. */
  async approve(id: string, asker: Asker, clickedHash: string): Promise<string> {
    const level = (await this.deps.roles.roleOf(asker.id)).role;
    const now = this.now();
    const window = asWindow(await this.deps.store.activeBreakGlass(now));
    const result = await this.deps.store.approve(
      id,
      { id: asker.id, name: asker.name, level: (level ?? 'viewer') as RoleLevel },
      (row, approvals) => {
        if (row.state !== 'pending') {
          return {
            approval: null,
            satisfied: false,
            reason: `${row.id} is ${row.state}: nothing to approve`,
          };
        }
        const d = evaluateApproval(this.deps.policy, {
          request: asApprovalRequest(row),
          approvals: approvals.map((a) => asApproval(a)),
          candidate: { approver: person(asker.id, level), planHash: clickedHash },
          now: now.getTime(),
          breakGlass: window,
        });
        return { approval: d.approval, satisfied: d.satisfied, reason: d.reason };
      },
    );
    if (!result) return `There is no request ${id}.`;
    approvalsTotal.inc({
      command: result.row.command,
      decision: 'approve',
      outcome: result.decision.approval ? 'recorded' : 'refused',
    });
    if (result.approvedNow) await this.enqueue(id);
    if (result.decision.approval) await this.refreshMessage(id);
    return result.decision.approval ? result.decision.reason : `Not approved: ${result.decision.reason}.`;
  }

  /** A Reject click: by someone who could approve it, or the requester. */
  async reject(id: string, asker: Asker): Promise<string> {
    const row = await this.deps.store.get(id);
    if (!row) return `There is no request ${id}.`;
    if (row.state !== 'pending') return `${id} is ${row.state}: it can no longer be rejected.`;
    const level = (await this.deps.roles.roleOf(asker.id)).role;
    const minimum = ruleOf(this.deps.policy, row.ruleKey as ApprovalRuleKey).minimum;
    const mayApprove = level !== null && level !== 'viewer' && rank(level) >= rank(minimum);
    if (asker.id !== row.requester.id && !mayApprove)
      return `Only the requester or someone who may approve it (${orAbove(minimum)}) can reject ${id}.`;
    const rejected = await this.deps.store.reject(
      id,
      { id: asker.id, name: asker.name, level },
      `rejected by <@${asker.id}>`,
      this.now(),
    );
    if (!rejected) return `${id} was decided meanwhile; nothing changed.`;
    await this.refreshMessage(id);
    return `Rejected ${id}; nothing will run.`;
  }

  /** A Cancel click: the requester, or anyone who may approve it. */
  async cancel(id: string, asker: Asker): Promise<string> {
    const row = await this.deps.store.get(id);
    if (!row) return `There is no request ${id}.`;
    const level = (await this.deps.roles.roleOf(asker.id)).role;
    const minimum = ruleOf(this.deps.policy, row.ruleKey as ApprovalRuleKey).minimum;
    const mayApprove = level !== null && level !== 'viewer' && rank(level) >= rank(minimum);
    if (asker.id !== row.requester.id && !mayApprove)
      return `Only the requester or someone who may approve it (${orAbove(minimum)}) can cancel ${id}.`;
    const result = await this.deps.store.cancel(id, { id: asker.id, name: asker.name, level }, this.now());
    if (!result) return `${id} is ${row.state}: there is nothing to cancel.`;
    await this.refreshMessage(id);
    if (result.effect === 'cancelled') {
      await this.deps.queue.remove(runJobId(id)).catch(() => 0);
      return `Cancelled ${id}; nothing ran.`;
    }
    return `Stopping ${id} before its next step; steps already done stay done.`;
  }

  /** `/qnwis break-glass "reason" [--for 30m]`: opens the window and announces it in the channel. */
  async breakGlass(
    asker: Asker,
    reason: string,
    durationMs: number | undefined,
    channelId: string,
  ): Promise<string> {
    const level = (await this.deps.roles.roleOf(asker.id)).role;
    const now = this.now();
    let decision: ReturnType<typeof evaluateBreakGlass> | undefined;
    const input = {
      requester: person(asker.id, level),
      reason,
      now: now.getTime(),
      ...(durationMs !== undefined ? { durationMs } : {}),
    };
    const first = evaluateBreakGlass(this.deps.policy, input);
    if (!first.allowed) return `Break-glass refused: ${first.reason}.`;
    const opened = await this.deps.store.openBreakGlass(
      {
        grantedBy: { id: asker.id, name: asker.name, level: level as RoleLevel },
        reason: first.window.reason,
        channelId,
        startsAt: new Date(first.window.startsAt),
        endsAt: new Date(first.window.endsAt),
      },
      (active) => {
        decision = evaluateBreakGlass(this.deps.policy, { ...input, active: asWindow(active) });
        return decision.allowed ? null : decision;
      },
    );
    if (!opened.opened) return `Break-glass refused: ${opened.refusal.allowed ? '' : opened.refusal.reason}.`;
    const w = opened.row;
    await this.deps.chat.postMessage(channelId, {
      text: `BREAK-GLASS declared by <@${asker.id}> until ${formatUtc(w.endsAt.getTime(), now.getTime())}: ${w.reason}`,
      blocks: [
        {
          type: 'header',
          text: { type: 'plain_text', text: '🚨 BREAK-GLASS is active', emoji: true },
        },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            verbatim: true,
            text:
              `<!here> <@${asker.id}> (${level}) declared break-glass until *${formatUtc(w.endsAt.getTime(), now.getTime())}*: ` +
              `"${w.reason.replace(/[<>&*_~`]/g, '')}"\nUntil then a single approval by ${orAbove(this.deps.policy.breakGlass.approverMinimum)} ` +
              'other than the requester suffices for any command. Everything is audited.',
          },
        },
      ],
    });
    return `Break-glass is active until ${formatUtc(w.endsAt.getTime(), now.getTime())}; it was announced in the channel and audited.`;
  }

  /**
   * The periodic sweep: expire requests past their window, re-enqueue approved requests whose job
   * was lost (the job id makes it a no-op when it exists), announce break-glass windows that ended.
   */
  async sweep(): Promise<{ expired: number; requeued: number; windowsClosed: number }> {
    const now = this.now();
    const expired = await this.deps.store.expireDue(now);
    for (const r of expired) await this.refreshMessage(r.id);
    const stale = await this.deps.store.approvedNotStarted(new Date(now.getTime() - 10_000));
    for (const r of stale) await this.enqueue(r.id);
    const closed = await this.deps.store.closeEndedBreakGlass(now);
    for (const w of closed) {
      await this.deps.chat
        .postMessage(w.channelId, {
          text: `Break-glass by <@${w.grantedBy}> has ended; approvals follow the normal policy again.`,
        })
        .catch((err: unknown) => this.log.warn({ err }, 'break-glass end could not be announced'));
    }
    return { expired: expired.length, requeued: stale.length, windowsClosed: closed.length };
  }
}

const RANKS: Readonly<Record<string, number>> = { viewer: 0, L1: 1, L2: 2, L3: 3, L4: 4 };
function rank(level: string): number {
  return RANKS[level] ?? -1;
}
