/**
 * The view model every incident message is rendered from, and the small formatting helpers the
 * builders share. The bot fills an `IncidentView` from its store; the builders never look anything
 * up. Pure: the clock is always a parameter.
 */
import type { IncidentStatus } from '../../incidents/incident.js';
import type { Severity } from '../../incidents/runbook.js';

export interface IncidentView {
  /** e.g. "QNWIS-42" (also the PagerDuty dedup key). */
  key: string;
  alertname: string;
  severity: Severity;
  status: IncidentStatus;
  /** annotations.summary of the first firing alert (may be empty). */
  summary: string;
  /** annotations.description (may be empty, may be long). */
  description: string;
  hosts: { firing: string[]; resolved: string[] };
  alerts: { firing: number; resolved: number };
  /** First alert's startsAt. */
  openedAt: Date;
  resolvedAt: Date | null;
  /** Display name, e.g. "Jane Doe (PagerDuty)". */
  acknowledgedBy: string | null;
  runbookSection: string;
  links: {
    graph: string | null;
    silence: string | null;
    pagerduty: string | null;
    alertmanager: string | null;
  };
  /** e.g. "escalates to Senior SRE + Dev Lead at 03:42 UTC"; null when nothing is scheduled. */
  nextEscalation: string | null;
  /**
   * Who must answer first (the matrix's initial level): titles and their Slack mentions, shown
   * while nobody has acknowledged; absent: not configured.
   */
  responders?: { titles: string; mentions: readonly string[] } | null;
  /** The playbook's one-line verdict, once its diagnostics ran. */
  diagnosis: string | null;
  /** Runbook fixes the playbook proposes (buttons until the incident resolves). */
  /** What was done (commands that ran), oldest first. */
  commandsDone?: readonly string[];
  proposedActions: {
    command: string;
    target: string;
    label: string;
    description: string;
    style?: 'primary' | 'danger';
  }[];
}

/**
 * Characters Alertmanager's UI filter parser does not accept in a label name (ui/app/src/Utils/
 * Filter.elm `reservedChars`): matcher syntax plus Go's unicode.IsSpace for Latin-1.
 */
const RESERVED_NAME_CHARS = /[{}!=~,\\"'`\s\u0085\u00a0]/;

/**
 * Alertmanager's UI link to a new silence pre-filled with `matchers` (all equality matchers), the
 * format the UI itself produces (ui/app/src/Views/SilenceForm/Parsing.elm `encodeMatchers`):
 * `<externalURL>/#/silences/new?filter=` + percent-encoded `{name="value", …}`, each value a JSON
 * string, names sorted as the UI does. `comment` pre-fills the comment (newer UIs; older ones
 * ignore it).
 *
 * Returns null when there is no URL or no matcher, or when a label name cannot be written in the
 * UI's filter syntax: dropping that matcher would silence more than the incident.
 */
export function silenceUrl(
  alertmanagerExternalUrl: string,
  matchers: Readonly<Record<string, string>>,
  comment?: string,
): string | null {
  const base = alertmanagerExternalUrl.trim().replace(/\/+$/, '');
  const names = Object.keys(matchers).sort();
  if (!base || names.length === 0) return null;
  if (names.some((n) => n === '' || RESERVED_NAME_CHARS.test(n))) return null;
  const filter = `{${names.map((n) => `${n}=${JSON.stringify(matchers[n] ?? '')}`).join(', ')}}`;
  const query = `filter=${encodeURIComponent(filter)}${comment ? `&comment=${encodeURIComponent(comment)}` : ''}`;
  return `${base}/#/silences/new?${query}`;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "45 s", "3 min", "1 h 12 min", "2 d 4 h" (rounded down; negative counts as 0). */
export function formatDuration(ms: number): string {
  const t = Number.isFinite(ms) ? Math.max(0, ms) : 0;
  if (t < MINUTE) return `${Math.floor(t / 1000)} s`;
  if (t < HOUR) return `${Math.floor(t / MINUTE)} min`;
  if (t < DAY) {
    const h = Math.floor(t / HOUR);
    const m = Math.floor((t % HOUR) / MINUTE);
    return m > 0 ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(t / DAY);
  const h = Math.floor((t % DAY) / HOUR);
  return h > 0 ? `${d} d ${h} h` : `${d} d`;
}

/** "5 min ago"; "just now" under a minute; "in 3 min" for a time ahead of `now` (clock skew). */
export function relative(from: Date, now: Date): string {
  const diff = now.getTime() - from.getTime();
  if (!Number.isFinite(diff)) return 'at an unknown time';
  if (Math.abs(diff) < MINUTE) return 'just now';
  return diff > 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/**
 * "21:42 UTC"; with the date ("27 Nov 21:42 UTC") when `now` is given and falls on another UTC
 * day, so a time from yesterday is not read as today's.
 */
export function utcTime(date: Date, now?: Date): string {
  if (Number.isNaN(date.getTime())) return 'unknown time';
  const hm = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
  const sameDay =
    !now ||
    (date.getUTCFullYear() === now.getUTCFullYear() &&
      date.getUTCMonth() === now.getUTCMonth() &&
      date.getUTCDate() === now.getUTCDate());
  return sameDay ? hm : `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${hm}`;
}

const FIRING_EMOJI: Readonly<Record<Severity, string>> = {
  'SEV-1': '🔴',
  'SEV-2': '🟠',
  'SEV-3': '🟡',
  'SEV-4': '🔵',
};

/** 🔴/🟠/🟡/🔵 while firing (by severity), 👀 when acknowledged, ✅ when resolved. */
export function statusEmoji(status: IncidentStatus, severity: Severity): string {
  if (status === 'resolved') return '✅';
  if (status === 'acknowledged') return '👀';
  return FIRING_EMOJI[severity];
}

/** How long the incident has been (or was) open at `now`. */
export function openFor(view: Pick<IncidentView, 'openedAt' | 'resolvedAt' | 'status'>, now: Date): number {
  const end = view.status === 'resolved' && view.resolvedAt ? view.resolvedAt : now;
  return end.getTime() - view.openedAt.getTime();
}
