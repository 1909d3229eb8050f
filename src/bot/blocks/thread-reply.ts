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
import { formatDuration, type IncidentView, openFor } from './view.js';

/** Events from people (Slack, PagerDuty webhooks) besides the incident domain's own. */
export type PeopleEvent =
  | { kind: 'acknowledged'; by: string; source: 'pagerduty' | 'slack' }
  | { kind: 'reassigned' | 'escalated' | 'annotated'; by: string; detail: string };

export type ThreadEvent = IncidentEvent | PeopleEvent;

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
    default:
      return assertNever(event);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled thread event: ${JSON.stringify(value)}`);
}
