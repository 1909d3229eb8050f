/**
 * What the on-call's controls do (issue 7): acknowledge, resolve with a note, escalate now, snooze
 * reminders, reassign. Slack and PagerDuty must never disagree, so a paged incident changes in
 * PagerDuty first, *as the person who clicked* (REST `From` = their Slack e-mail), and only then in
 * the bot; if PagerDuty refuses (no account, unreachable) nothing changes and the person is told
 * why. An incident that was never paged (SEV-3/4) changes in the bot alone.
 *
 * Each method answers the one sentence for the clicker (an ephemeral message); what everyone sees
 * comes from the timeline event it records (thread reply) and the re-rendered incident message.
 */

import { PagerDutyRejectedError, PagerDutyUnavailableError } from '../errors.js';
import { type EscalationMatrix, evaluateSnooze, recipientsOf, titlesOf } from '../incidents/escalation.js';
import { enqueueIncidentSync, type Queues } from '../jobs/queues.js';
import type { Logger } from '../observability/logger.js';
import { escalationsTotal } from '../observability/metrics.js';
import {
  type PagerDutyIncident,
  PagerDutyNoAccountError,
  type PagerDutyRest,
} from '../ops/adapters/pagerduty-rest.js';
import type { AuditTrail } from '../store/audit-trail.js';
import { clockOf, type IncidentRow, type IncidentStore } from '../store/incidents.js';
import { type RoleDirectory, roleRank } from './roles.js';

export interface Clicker {
  readonly id: string;
  /** Their display name, for the thread ("Acknowledged in Slack by Omar Haddad"). */
  readonly name: string | null;
}

/** Rolls the acknowledgement back when PagerDuty would not take it (the sentence is kept aside). */
class AcknowledgementRefused extends Error {}

/** The clicker with the role they had when they acted. */
type Actor = Clicker & { readonly role: string | null };

export interface IncidentResponseDeps {
  store: IncidentStore;
  queues: Queues;
  matrix: EscalationMatrix;
  roles: RoleDirectory;
  /** The hash-chained audit trail: every action and refusal gets a row. */
  audit?: Pick<AuditTrail, 'append'>;
  /** Null: PagerDuty's REST API is not configured; paged incidents change in Slack only. */
  rest: PagerDutyRest | null;
  /** A Slack user's e-mail (`users.info`, scope users:read.email) and real name. */
  profileOf(userId: string): Promise<{ email: string | null; name: string | null }>;
  log: Logger;
  now?: () => number;
}

const MINUTE = 60_000;

export class IncidentResponse {
  private readonly deps: IncidentResponseDeps;
  private readonly now: () => number;

  constructor(deps: IncidentResponseDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** The incident, if the clicker may act on it (L1+), else the sentence saying why not. */
  private async open(
    key: string,
    who: Clicker,
    action: string,
  ): Promise<{ row: IncidentRow; actor: Actor } | { text: string }> {
    const { role } = await this.deps.roles.roleOf(who.id);
    const actor = { ...who, role };
    if (roleRank(role) < roleRank('L1')) {
      const text = `Only the on-call rota (L1 and above) can act on incidents; you are ${role ?? 'not on it'}. Nothing was changed.`;
      await this.audit('refusal', actor, null, `${action} ${key} refused: ${role ?? 'no role'} (L1 needed)`, {
        action,
      });
      return { text };
    }
    const row = await this.deps.store.getByKey(key);
    if (!row) return { text: `${key} is not an incident I know. Nothing was changed.` };
    return { row, actor };
  }

  /** Audits a refusal (PagerDuty would not, no account, …) and answers its sentence. */
  private async refused(actor: Actor, row: IncidentRow, text: string): Promise<string> {
    await this.audit('refusal', actor, row, `${row.key}: ${text}`, {});
    return text;
  }

  /** The audit trail's row for what a person did (or was refused); never fails the action itself. */
  private async audit(
    kind: 'incident-action' | 'refusal',
    who: Actor,
    row: IncidentRow | null,
    summary: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    if (!this.deps.audit) return;
    try {
      await this.deps.audit.append({
        kind,
        at: new Date(this.now()),
        actorId: who.id,
        actorName: who.name,
        actorRole: who.role,
        incidentId: row?.id ?? null,
        summary,
        data,
      });
    } catch (err) {
      // The action happened (and is in the incident's timeline); a missing audit row is an
      // operator's problem to see, not a reason to undo it.
      this.deps.log.error({ err, summary }, 'could not write the audit row of an incident action');
    }
  }

  /**
   * The PagerDuty incident behind `row`, when it was paged and PagerDuty's API is configured; null
   * when it has none (never paged, or PagerDuty not configured: the bot alone decides).
   */
  private async pagerDutyIncident(row: IncidentRow): Promise<PagerDutyIncident | null> {
    const rest = this.deps.rest;
    if (!rest || (row.pdStatus === null && row.pdIncidentId === null)) return null;
    const found = await rest.incidentOf(row);
    if (found) await this.deps.store.linkPagerDuty(row, found);
    return found;
  }

  /**
   * Runs `act` against PagerDuty as the clicker; a sentence for them when it cannot (the caller
   * then changes nothing), null when it went through.
   */
  private async asClicker(
    who: Clicker,
    what: string,
    act: (rest: PagerDutyRest, email: string) => Promise<unknown>,
  ): Promise<string | null> {
    const rest = this.deps.rest;
    if (!rest) return null;
    const { email } = await this.deps.profileOf(who.id);
    if (!email)
      return `I cannot ${what} in PagerDuty for you: your Slack profile shows no e-mail (the bot needs users:read.email). Nothing was changed.`;
    try {
      await act(rest, email);
      return null;
    } catch (err) {
      if (err instanceof PagerDutyNoAccountError)
        return `You (${email}) have no PagerDuty account, so PagerDuty cannot record that you ${what}. Nothing was changed: ask someone on the rota, or an admin to add you to PagerDuty.`;
      if (err instanceof PagerDutyUnavailableError)
        return `PagerDuty did not take it (${err.message}). Nothing was changed; try again in ${Math.max(1, Math.ceil(err.retryAfterMs / 1000))} s.`;
      if (err instanceof PagerDutyRejectedError)
        return `PagerDuty refused: ${err.message}. Nothing was changed.`;
      throw err;
    }
  }

  private async changed(row: IncidentRow): Promise<void> {
    await enqueueIncidentSync(this.deps.queues, row.id, row.severity);
  }

  /** How many of its alerts still fire (null: no such incident), for the resolve dialog's warning. */
  async firingAlerts(key: string): Promise<number | null> {
    const row = await this.deps.store.getByKey(key);
    if (!row) return null;
    return (await this.deps.store.alerts(row.id)).filter((a) => a.status === 'firing').length;
  }

  /** Where the incident's message is (for a private answer next to it). */
  async whereIs(key: string): Promise<{ channel: string; threadTs: string | null } | null> {
    const row = await this.deps.store.getByKey(key);
    if (!row) return null;
    return { channel: row.slackChannelId ?? row.channel, threadTs: row.slackTs };
  }

  async acknowledge(key: string, who: Clicker): Promise<string> {
    const found = await this.open(key, who, 'acknowledge');
    if ('text' in found) return found.text;
    const { row, actor } = found;
    if (row.status === 'resolved') return `${row.key} is already resolved.`;
    if (row.status === 'acknowledged')
      return `${row.key} was already acknowledged by ${row.acknowledgedBy ?? 'someone'}.`;
    const pd = await this.pagerDutyIncident(row);
    const name = await this.nameOf(who);
    let refused: string | null = null;
    // PagerDuty is told while the bot holds the incident (see acknowledgeWith): its webhook about
    // this acknowledgement cannot overtake the bot's own record of who acknowledged where.
    const acknowledged = await this.deps.store
      .acknowledgeWith(row.id, name, 'slack', async () => {
        if (pd?.status !== 'triggered') return;
        refused = await this.asClicker(who, 'acknowledged it', (rest, email) =>
          rest.update(pd.id, { status: 'acknowledged' }, email),
        );
        if (refused) throw new AcknowledgementRefused();
      })
      .catch((err: unknown) => {
        if (err instanceof AcknowledgementRefused) return null;
        throw err;
      });
    if (acknowledged === null) return this.refused(actor, row, refused ?? 'PagerDuty refused');
    if (acknowledged)
      await this.audit(
        'incident-action',
        { ...actor, name },
        row,
        `acknowledged ${row.key}${pd ? ' (and in PagerDuty)' : ''}`,
        {
          action: 'acknowledge',
          pagerDutyIncident: pd?.id ?? null,
        },
      );
    await this.changed(row);
    return acknowledged
      ? `Acknowledged ${row.key}${pd ? ' (and in PagerDuty)' : ''}. The acknowledge reminders stop; the escalation matrix runs until it is resolved.`
      : `${row.key} was acknowledged meanwhile.`;
  }

  async resolve(key: string, who: Clicker, note: string): Promise<string> {
    const found = await this.open(key, who, 'resolve');
    if ('text' in found) return found.text;
    const { row, actor } = found;
    if (row.status === 'resolved') return `${row.key} is already resolved.`;
    const text = note.trim();
    if (text.length < 3)
      return 'Say in a few words what fixed it: the note goes in the thread, PagerDuty and the post-mortem.';
    const pd = await this.pagerDutyIncident(row);
    if (pd && pd.status !== 'resolved') {
      const refused = await this.asClicker(who, 'resolved it', async (rest, email) => {
        await rest.addNote(pd.id, `Resolved from Slack: ${text}`, email);
        await rest.update(pd.id, { status: 'resolved' }, email);
      });
      if (refused) return this.refused(actor, row, refused);
    }
    const name = await this.nameOf(who);
    const resolved = await this.deps.store.resolveByHand(row.id, name, text, 'slack');
    if (resolved)
      await this.audit('incident-action', { ...actor, name }, row, `resolved ${row.key} by hand: ${text}`, {
        action: 'resolve',
        note: text,
        pagerDutyIncident: pd?.id ?? null,
      });
    await this.changed(row);
    const firing = (await this.deps.store.alerts(row.id)).filter((a) => a.status === 'firing').length;
    return resolved
      ? `Resolved ${row.key}${pd ? ' (and in PagerDuty)' : ''}.${firing > 0 ? ` ${firing} alert(s) still fire in Alertmanager: if they keep firing, it opens again.` : ''}`
      : `${row.key} was resolved meanwhile.`;
  }

  /** The PagerDuty level the incident is at: the highest the bot escalated to, else level 1. */
  private async currentLevel(row: IncidentRow): Promise<number> {
    const levels = (await this.deps.store.firedTimers(row.id)).map((t) => t.pagerDutyLevel ?? 1);
    return Math.max(1, ...levels);
  }

  async escalateNow(key: string, who: Clicker): Promise<string> {
    const found = await this.open(key, who, 'escalate now');
    if ('text' in found) return found.text;
    const { row, actor } = found;
    if (row.status === 'resolved') return `${row.key} is resolved: there is no one to escalate to.`;
    const matrix = this.deps.matrix;
    const current = await this.currentLevel(row);
    const next = Object.entries(matrix.levels)
      .filter(([, l]) => l.pagerDutyLevel !== null && l.pagerDutyLevel > current)
      .sort(([, a], [, b]) => (a.pagerDutyLevel ?? 0) - (b.pagerDutyLevel ?? 0));
    const target = next[0];
    if (!target) return `${row.key} is already at the top of the escalation path (level ${current}).`;
    const [levelName, level] = target;
    const pd = await this.pagerDutyIncident(row);
    if (pd && pd.status !== 'resolved') {
      const refused = await this.asClicker(who, 'escalated it', (rest, email) =>
        rest.update(pd.id, { escalation_level: level.pagerDutyLevel ?? current + 1 }, email),
      );
      if (refused) return this.refused(actor, row, refused);
    }
    const name = await this.nameOf(who);
    const recipients = recipientsOf([levelName], matrix);
    const at = this.now();
    await this.deps.store.claimTimer(
      row.id,
      {
        timerId: `manual-${row.id}-${at}-${who.id}`,
        kind: 'manual-escalation',
        paged: Boolean(pd),
        pagerDutyLevel: level.pagerDutyLevel,
      },
      {
        kind: 'escalation_timer',
        timer: 'escalation',
        levels: [levelName],
        titles: recipients.titles,
        mentions: recipients.mentions,
        message: `Escalated now by ${name} to ${titlesOf([levelName], matrix)}`,
        page: Boolean(pd),
        pagerDutyLevel: pd ? level.pagerDutyLevel : null,
        step: null,
        by: name,
      },
    );
    escalationsTotal.inc({ kind: 'manual', outcome: pd ? 'paged' : 'slack_only' });
    await this.audit(
      'incident-action',
      { ...actor, name },
      row,
      `escalated ${row.key} now to ${level.title}`,
      {
        action: 'escalate',
        level: levelName,
        pagerDutyLevel: pd ? level.pagerDutyLevel : null,
      },
    );
    await this.changed(row);
    return `Escalated ${row.key} to ${level.title}${pd ? ` (PagerDuty level ${level.pagerDutyLevel})` : ' (Slack only: it was not paged)'}.`;
  }

  async snooze(key: string, who: Clicker, minutes: number): Promise<string> {
    const found = await this.open(key, who, 'snooze');
    if ('text' in found) return found.text;
    const { row, actor } = found;
    const decision = evaluateSnooze(clockOf(row), this.deps.matrix, this.now(), Math.round(minutes * MINUTE));
    if (!decision.allowed) return `Not snoozed: ${decision.reason}.`;
    const name = await this.nameOf(who);
    await this.deps.store.snooze(row.id, name, new Date(decision.until));
    await this.audit(
      'incident-action',
      { ...actor, name },
      row,
      `snoozed ${row.key}'s reminders: ${decision.reason}`,
      {
        action: 'snooze',
        until: new Date(decision.until).toISOString(),
      },
    );
    await this.changed(row);
    return `${row.key}: ${decision.reason}.`;
  }

  async reassign(key: string, who: Clicker, toSlackUser: string): Promise<string> {
    const found = await this.open(key, who, 'reassign');
    if ('text' in found) return found.text;
    const { row, actor } = found;
    if (row.status === 'resolved') return `${row.key} is resolved.`;
    const target = await this.deps.profileOf(toSlackUser);
    const targetName = target.name ?? `<@${toSlackUser}>`;
    const pd = await this.pagerDutyIncident(row);
    if (pd && pd.status !== 'resolved') {
      const pdUser = target.email && this.deps.rest ? await this.deps.rest.userByEmail(target.email) : null;
      if (!pdUser)
        return this.refused(
          actor,
          row,
          `${targetName} has no PagerDuty account${target.email ? ` (${target.email})` : ''}: PagerDuty cannot assign it to them. Nothing was changed.`,
        );
      const refused = await this.asClicker(who, 'reassigned it', (rest, email) =>
        rest.update(pd.id, { assignments: [{ assignee: { id: pdUser.id, type: 'user_reference' } }] }, email),
      );
      if (refused) return this.refused(actor, row, refused);
    }
    // A paged incident's reassignment is told by PagerDuty's webhook (with the assignee's name).
    if (!pd) {
      const name = await this.nameOf(who);
      await this.deps.store.addEvent(
        row.id,
        { kind: 'reassigned', by: name, detail: `to ${targetName}` },
        name,
      );
    }
    await this.audit('incident-action', actor, row, `reassigned ${row.key} to ${targetName}`, {
      action: 'reassign',
      to: toSlackUser,
      pagerDutyIncident: pd?.id ?? null,
    });
    await this.changed(row);
    return `${row.key} is now assigned to ${targetName}${pd ? ' in PagerDuty' : ''}.`;
  }

  private async nameOf(who: Clicker): Promise<string> {
    if (who.name) return who.name;
    const profile = await this.deps.profileOf(who.id).catch(() => ({ name: null }));
    return profile.name ?? who.id;
  }
}
