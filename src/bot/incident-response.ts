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
import { clockOf, type IncidentRow, type IncidentStore } from '../store/incidents.js';
import { type RoleDirectory, roleRank } from './roles.js';

export interface Clicker {
  readonly id: string;
  /** Their display name, for the thread ("Acknowledged in Slack by Omar Haddad"). */
  readonly name: string | null;
}

export interface IncidentResponseDeps {
  store: IncidentStore;
  queues: Queues;
  matrix: EscalationMatrix;
  roles: RoleDirectory;
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
  private async open(key: string, who: Clicker): Promise<{ row: IncidentRow } | { text: string }> {
    const { role } = await this.deps.roles.roleOf(who.id);
    if (roleRank(role) < roleRank('L1'))
      return {
        text: `Only the on-call rota (L1 and above) can act on incidents; you are ${role ?? 'not on it'}. Nothing was changed.`,
      };
    const row = await this.deps.store.getByKey(key);
    if (!row) return { text: `${key} is not an incident I know. Nothing was changed.` };
    return { row };
  }

  /**
   * The PagerDuty incident behind `row`, when it was paged and PagerDuty's API is configured; null
   * when it has none (never paged, or PagerDuty not configured: the bot alone decides).
   */
  private async pagerDutyIncident(row: IncidentRow): Promise<PagerDutyIncident | null> {
    const rest = this.deps.rest;
    if (!rest || (row.pdStatus === null && row.pdIncidentId === null)) return null;
    const found = row.pdIncidentId
      ? await rest.incident(row.pdIncidentId)
      : await rest.incidentByKey(row.pdDedupKey ?? row.key);
    if (found && found.id !== row.pdIncidentId)
      await this.deps.store.setPagerDuty(row.id, {
        dedupKey: row.pdDedupKey ?? row.key,
        status: row.pdStatus ?? 'triggered',
        incidentId: found.id,
        htmlUrl: found.html_url ?? null,
      });
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
    const found = await this.open(key, who);
    if ('text' in found) return found.text;
    const { row } = found;
    if (row.status === 'resolved') return `${row.key} is already resolved.`;
    if (row.status === 'acknowledged')
      return `${row.key} was already acknowledged by ${row.acknowledgedBy ?? 'someone'}.`;
    const pd = await this.pagerDutyIncident(row);
    if (pd && pd.status === 'triggered') {
      const refused = await this.asClicker(who, 'acknowledged it', (rest, email) =>
        rest.update(pd.id, { status: 'acknowledged' }, email),
      );
      if (refused) return refused;
    }
    const name = await this.nameOf(who);
    const acknowledged = await this.deps.store.acknowledge(row.id, name, 'slack');
    await this.changed(row);
    return acknowledged
      ? `Acknowledged ${row.key}${pd ? ' (and in PagerDuty)' : ''}. The acknowledge reminders stop; the escalation matrix runs until it is resolved.`
      : `${row.key} was acknowledged meanwhile.`;
  }

  async resolve(key: string, who: Clicker, note: string): Promise<string> {
    const found = await this.open(key, who);
    if ('text' in found) return found.text;
    const { row } = found;
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
      if (refused) return refused;
    }
    const name = await this.nameOf(who);
    const resolved = await this.deps.store.resolveByHand(row.id, name, text, 'slack');
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
    const found = await this.open(key, who);
    if ('text' in found) return found.text;
    const { row } = found;
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
      if (refused) return refused;
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
    await this.changed(row);
    return `Escalated ${row.key} to ${level.title}${pd ? ` (PagerDuty level ${level.pagerDutyLevel})` : ' (Slack only: it was not paged)'}.`;
  }

  async snooze(key: string, who: Clicker, minutes: number): Promise<string> {
    const found = await this.open(key, who);
    if ('text' in found) return found.text;
    const { row } = found;
    const decision = evaluateSnooze(clockOf(row), this.deps.matrix, this.now(), Math.round(minutes * MINUTE));
    if (!decision.allowed) return `Not snoozed: ${decision.reason}.`;
    const name = await this.nameOf(who);
    await this.deps.store.snooze(row.id, name, new Date(decision.until));
    await this.changed(row);
    return `${row.key}: ${decision.reason}.`;
  }

  async reassign(key: string, who: Clicker, toSlackUser: string): Promise<string> {
    const found = await this.open(key, who);
    if ('text' in found) return found.text;
    const { row } = found;
    if (row.status === 'resolved') return `${row.key} is resolved.`;
    const target = await this.deps.profileOf(toSlackUser);
    const targetName = target.name ?? `<@${toSlackUser}>`;
    const pd = await this.pagerDutyIncident(row);
    if (pd && pd.status !== 'resolved') {
      const pdUser = target.email && this.deps.rest ? await this.deps.rest.userByEmail(target.email) : null;
      if (!pdUser)
        return `${targetName} has no PagerDuty account${target.email ? ` (${target.email})` : ''}: PagerDuty cannot assign it to them. Nothing was changed.`;
      const refused = await this.asClicker(who, 'reassigned it', (rest, email) =>
        rest.update(pd.id, { assignments: [{ assignee: { id: pdUser.id, type: 'user_reference' } }] }, email),
      );
      if (refused) return refused;
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
    await this.changed(row);
    return `${row.key} is now assigned to ${targetName}${pd ? ' in PagerDuty' : ''}.`;
  }

  private async nameOf(who: Clicker): Promise<string> {
    if (who.name) return who.name;
    const profile = await this.deps.profileOf(who.id).catch(() => ({ name: null }));
    return profile.name ?? who.id;
  }
}
