/**
 * One-line replies in an incident's thread, one per event worth telling: hosts joining and
 * resolving, severity changes, acknowledgement, PagerDuty escalations and notes. The top-level
 * message carries the current state; the thread is the timeline. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { IncidentEvent } from '../../incidents/incident.js';
import { SEVERITIES, SEVERITY_REQUIREMENTS } from '../../incidents/runbook.js';
import { SLACK_LIMITS } from './limits.js';
import { escapeTruncate, mrkdwn, oneLine, truncateEscaped } from './text.js';
import { formatDuration, type IncidentView, openFor, utcTime } from './view.js';

/** Events from people (Slack, PagerDuty webhooks) besides the incident domain's own. */
export type PeopleEvent =
  | { kind: 'acknowledged'; by: string; source: 'pagerduty' | 'slack' }
  | { kind: 'reassigned' | 'escalated' | 'annotated'; by: string; detail: string }
  | { kind: 'resolved_by_hand'; by: string; note: string }
  | { kind: 'snoozed'; by: string; until: string }
  | { kind: 'postmortem_linked'; by: string; url: string };

/** The runbook's clock acting: a reminder or an escalation (src/jobs/escalation.ts). */
export interface ClockEvent {
  kind: 'escalation_timer';
  timer: string;
  message: string;
  /** `<@U…>` / `<!subteam^S…>` of the people addressed. */
  mentions: string[];
  page: boolean;
  pagerDutyLevel: number | null;
}

export type ThreadEvent = IncidentEvent | PeopleEvent | ClockEvent;

/** Only well-formed user and user-group mentions reach Slack unescaped. */
const MENTION = /^(?:<@[UW][A-Z0-9]{2,30}>|<!subteam\^S[A-Z0-9]{2,30}>)$/;
const ESCALATING_TIMERS = new Set(['ack-escalation', 'escalation', 'maintenance-release']);

export interface ThreadReply {
  text: string;
  blocks?: KnownBlock[];
}

const NAME_MAX = 120;
const TEXT_MAX = 500;
/** Notes keep their line breaks and get a section of their own. */
const NOTE_MAX = SLACK_LIMITS.sectionText - 200;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const name = (s: string, fallback = 'someone') => escapeTruncate(oneLine(s), NAME_MAX) || fallback;

/** "ServiceDown firing on 3 hosts" (or "ServiceDown: 2 alerts firing" when alerts carry no host). */
function scope(view: IncidentView, still = ''): string {
  const alert = escapeTruncate(oneLine(view.alertname), NAME_MAX) || 'alert';
  const hosts = view.hosts.firing.length;
  return hosts > 0
    ? `${alert} ${still}firing on ${plural(hosts, 'host')}`
    : `${alert}: ${plural(view.alerts.firing, 'alert')} ${still}firing`;
}

/** " by Jane Doe", or nothing when PagerDuty itself acted. */
function byWhom(by: string): string {
  const who = oneLine(by);
  return who && who.toLowerCase() !== 'pagerduty' ? ` by ${name(who)}` : '';
}

/** A one-liner; its parts were escaped already, so only the length is kept in check here. */
const line = (text: string): ThreadReply => ({ text: truncateEscaped(text, TEXT_MAX) });

/** A reply carrying free text from a person: a verbatim section, so bare "@here" or URLs stay text. */
function withNote(headline: string, detail: string): ThreadReply {
  const note = escapeTruncate(detail.trim(), NOTE_MAX);
  const text = truncateEscaped(note ? `${headline}: ${oneLine(note)}` : headline, TEXT_MAX);
  const short = note.length <= 200 && !note.includes('\n');
  const body = note ? `${headline}:${short ? ' ' : '\n'}${note}` : headline;
  return { text, blocks: [{ type: 'section', text: mrkdwn(body, { verbatim: true }) }] };
}

/**
 * The reply for `event`, or null when it needs none ('opened': the top-level message says it).
 * `view` is the incident after the event.
 */
export function threadReply(event: ThreadEvent, view: IncidentView, now: Date): ThreadReply | null {
  switch (event.kind) {
    case 'opened':
      return null;
    case 'alert_firing': {
      const who = event.host ? name(event.host) : 'Another alert';
      return line(
        `${event.refired ? '🔁' : '➕'} ${who} ${event.refired ? 'firing again' : 'joined'} (${scope(view)})`,
      );
    }
    case 'alert_resolved': {
      const who = event.host ? name(event.host) : 'An alert';
      const still = view.status !== 'resolved' && view.alerts.firing > 0 ? ` (${scope(view, 'still ')})` : '';
      return line(`✅ ${who} resolved${still}`);
    }
    case 'severity_changed': {
      const raised = SEVERITIES.indexOf(event.to) < SEVERITIES.indexOf(event.from);
      const verb = raised ? '⬆️ Severity raised' : '⬇️ Severity lowered';
      return line(
        `${verb} ${event.from} → ${event.to}: ${scope(view)}. Runbook: ${SEVERITY_REQUIREMENTS[event.to].response}`,
      );
    }
    case 'resolved':
      return line(`✅ Incident resolved after ${formatDuration(openFor(view, now))}`);
    case 'acknowledged':
      return line(
        `👀 Acknowledged in ${event.source === 'pagerduty' ? 'PagerDuty' : 'Slack'} by ${name(event.by)}`,
      );
    case 'reassigned':
      return withNote(`👤 Reassigned in PagerDuty${byWhom(event.by)}`, event.detail);
    case 'escalated':
      return withNote(`🔺 Escalated in PagerDuty${byWhom(event.by)}`, event.detail);
    case 'annotated':
      return withNote(`📝 Note from ${name(event.by)}`, event.detail);
    case 'resolved_by_hand':
      return withNote(`✅ Resolved by hand by ${name(event.by)}`, event.note);
    case 'snoozed': {
      const until = new Date(event.until);
      return line(
        `😴 Reminders snoozed until ${utcTime(until, now)} by ${name(event.by)} (escalations go on)`,
      );
    }
    case 'postmortem_linked':
      return line(
        `📝 Post-mortem linked by ${/^[UW][A-Z0-9]{2,30}$/.test(event.by) ? `<@${event.by}>` : name(event.by)}: ${escapeTruncate(oneLine(event.url), 300)}`,
      );
    case 'escalation_timer': {
      const icon = ESCALATING_TIMERS.has(event.timer) ? '🔺' : '⏰';
      const paged =
        event.page && event.pagerDutyLevel !== null
          ? ` · paging PagerDuty level ${event.pagerDutyLevel}`
          : '';
      const mentions = (event.mentions ?? []).filter((m) => MENTION.test(m)).join(' ');
      // The mentions go last and are never cut: they are what notifies people.
      const head = truncateEscaped(
        `${icon} ${escapeTruncate(oneLine(event.message), TEXT_MAX)}${paged}`,
        TEXT_MAX - mentions.length - 1,
      );
      return { text: mentions ? `${head} ${mentions}` : head };
    }
    default:
      return assertNever(event);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled thread event: ${JSON.stringify(value)}`);
}
