/**
 * The maintenance-window announcement (runbook "Maintenance Windows": every 2nd Sunday, 02:00–04:00
 * UTC; 48 hours' notice via status page, e-mail to stakeholders and in-app banner). When the check
 * runs inside the notice period of the next window, it returns what to announce; the window's id
 * is what makes it once (the caller claims it). Pure; the schedule is the escalation matrix's.
 */
import {
  announcementDue,
  formatDuration,
  type MaintenanceSchedule,
  type MaintenanceWindow,
} from '../incidents/escalation.js';
import type { Severity } from '../incidents/runbook.js';

export interface MaintenanceAnnouncement {
  readonly window: MaintenanceWindow;
  /** "Sunday 13 December 2026, 02:00–04:00 UTC". */
  readonly when: string;
  /** "in 47 h 45 min". */
  readonly startsIn: string;
  /** Severities that still page during the window (always SEV-1). */
  readonly pagingSeverities: readonly Severity[];
  /** The runbook's procedure, in its order. */
  readonly procedure: readonly string[];
  /** Where the runbook says to give notice. */
  readonly notify: readonly string[];
}

export const MAINTENANCE_PROCEDURE = [
  'Enable maintenance mode (`/qnwis maintenance on "Scheduled maintenance in progress"`)',
  'Database VACUUM and ANALYZE, index rebuilding (`/qnwis vacuum-analyze`, `/qnwis reindex TABLE`)',
  'Log rotation and security updates',
  'Verify system health (`/qnwis status`), then disable maintenance mode (`/qnwis maintenance off`)',
  'Monitor for 30 minutes',
] as const;

export const MAINTENANCE_NOTICE_CHANNELS = [
  'the status page',
  'e-mail to stakeholders',
  'the in-app banner',
] as const;

const WEEKDAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** "Sunday 13 December 2026, 02:00–04:00 UTC". */
export function describeWindow(w: MaintenanceWindow): string {
  const d = new Date(w.start);
  const day = `${WEEKDAY_NAMES[d.getUTCDay()]} ${d.getUTCDate()} ${MONTH_NAMES[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  return `${day}, ${hhmm(w.start)}–${hhmm(w.end)} UTC`;
}

/** The announcement due at `now`, or null (not in a notice period, or the schedule is off). */
export function maintenanceAnnouncementAt(
  now: Date,
  schedule: MaintenanceSchedule,
): MaintenanceAnnouncement | null {
  const window = announcementDue(now.getTime(), schedule);
  if (!window) return null;
  return {
    window,
    when: describeWindow(window),
    startsIn: `in ${formatDuration(Math.max(0, window.start - now.getTime()))}`,
    pagingSeverities: schedule.pagingSeverities,
    procedure: MAINTENANCE_PROCEDURE,
    notify: MAINTENANCE_NOTICE_CHANNELS,
  };
}
