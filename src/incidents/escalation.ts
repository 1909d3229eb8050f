/**
 * The runbook's clock (issue 7, items 1, 2, 5 and 6), as one pure module: the escalation matrix and
 * its configuration, the timers an incident needs, whether a timer that fired should still act, the
 * next step the incident message shows, bounded snooze, business days and the monthly maintenance
 * window. Plain data in, plain data out; the clock is a parameter (`now`, epoch milliseconds).
 * Nothing here stores, sends, pages or schedules anything.
 *
 * Semantics (where the runbook is silent, the choice and its reason are written here)
 * - The clock starts at the incident's `openedAt` (when the alert started firing), not when the bot
 *   noticed it: the runbook's targets are about the outage, not about the bot.
 * - Acknowledging stops only the acknowledge timers (reminder at 10 min, escalation at 15 min). The
 *   escalation matrix keeps running until the incident is resolved: the runbook escalates SEV-2 "if
 *   not resolved in 30 min", and its matrix columns count from the start, not from the ack.
 * - The acknowledge escalation brings in the next level of the runbook's path (L2 Senior SRE), as
 *   PagerDuty's level-1 rule does; SEV-3 has none, because its matrix row brings the Senior SRE in
 *   only on the next business day.
 * - Resolving cancels every timer except the post-mortem reminder, which it schedules (48 h after
 *   the resolution). SEV-4 ("ticket only", "resolve in the next sprint") has no timers at all.
 * - Reminders (acknowledge, diagnose, mitigate, resolve, post-mortem) speak in Slack and never page.
 *   Escalations page when the severity pages (SEV-1/2) and no maintenance window holds them back.
 * - Snooze (only once acknowledged, as in PagerDuty; at most `snooze.maxMs`) postpones reminders,
 *   never escalations: the matrix is a promise to the people above the on-call.
 * - Maintenance window (2nd Sunday of the month, 02:00–04:00 UTC, start inclusive, end exclusive):
 *   anything but SEV-1 is posted without paging. So that an incident still open when the window
 *   ends is not left with nobody paged, each window that held a page back gets a
 *   `maintenance-release` timer at its end that pages the held levels.
 *
 * Durable timers: each timer's `id` is its delayed job's id (no ':', unique per incident and
 * action). The worker that runs one loads the incident and asks `stillValid`, which recomputes the
 * schedule: a timer is acted on only if the current schedule still has it (so a severity or
 * configuration change retires old timers, and the new schedule's ids take over), its condition
 * still holds, and it is due (else it says how long to postpone; BullMQ's `moveToDelayed` keeps the
 * id). Once-only is the queue's part: never re-add an id that has fired.
 */
import { z } from 'zod';
import { slackUserIdSchema } from '../bot/roles.js';
import { assertNever } from '../errors.js';
import { formatUtc } from './approvals.js';
import {
  MAINTENANCE_WINDOW,
  RESPONSE_TARGETS,
  SEVERITIES,
  SEVERITY_REQUIREMENTS,
  type Severity,
} from './runbook.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------
// The matrix

/** Who a level is: named in Slack messages by `title`, reached through Slack and PagerDuty. */
export interface EscalationLevel {
  /** "Senior SRE". */
  readonly title: string;
  /** Slack user ids to mention. */
  readonly slackUsers: readonly string[];
  /** Slack user group ids (`S…`) to mention. */
  readonly slackGroups: readonly string[];
  /** The PagerDuty escalation policy's level for these people; null: not in PagerDuty. */
  readonly pagerDutyLevel: number | null;
}

/**
 * The runbook's escalation path as named levels (L1 on-call, L2 Senior SRE, L3 Dev Lead, L4 CTO),
 * PagerDuty levels 1–4 as in the lab's "QNWIS On-call" policy. Who they are is configuration.
 */
export const DEFAULT_LEVELS: Readonly<Record<string, EscalationLevel>> = {
  'on-call': { title: 'On-call engineer', slackUsers: [], slackGroups: [], pagerDutyLevel: 1 },
  'senior-sre': { title: 'Senior SRE', slackUsers: [], slackGroups: [], pagerDutyLevel: 2 },
  'dev-lead': { title: 'Dev Lead', slackUsers: [], slackGroups: [], pagerDutyLevel: 3 },
  cto: { title: 'CTO', slackUsers: [], slackGroups: [], pagerDutyLevel: 4 },
};

/**
 * The lab's people by level (the Slack stand-in's seeded user groups), the default of the
 * ESCALATION_MATRIX setting as SLACK_ROLES defaults to the lab's users: a production deployment
 * names its own groups.
 */
export const LAB_ESCALATION_LEVELS = {
  'on-call': { slackGroups: ['S0ONCALL01'] },
  'senior-sre': { slackGroups: ['S0SRE00001'] },
  'dev-lead': { slackGroups: ['S0DEVLEAD1'] },
  cto: { slackGroups: ['S0MANAGER1'] },
} as const satisfies Record<string, { slackGroups: string[] }>;

/** When a step escalates: a fixed time after opening, or the next business day's start. */
export type StepTime =
  | { readonly kind: 'after'; readonly ms: number }
  | { readonly kind: 'next-business-day' };

export interface EscalationStep {
  readonly when: StepTime;
  readonly levels: readonly string[];
}

/** One row of the matrix, plus what the rest of the runbook says about the severity. */
export interface SeverityPlan {
  /** Who is told first (and paged, if `pages`); SEV-4: nobody, a ticket. */
  readonly initial: readonly string[];
  /** Whether escalations (and the opening) page through PagerDuty, or only mention in Slack. */
  readonly pages: boolean;
  /** Whether the acknowledge timers run. */
  readonly acknowledge: boolean;
  /** Who the acknowledge escalation brings in; empty: no acknowledge escalation. */
  readonly ackEscalation: readonly string[];
  /** The matrix's escalation columns, in order. */
  readonly steps: readonly EscalationStep[];
  /** Whether the workflow's diagnose/mitigate/resolve marks and the post-mortem reminder apply. */
  readonly workflow: boolean;
}

const after = (minutes: number): StepTime => ({ kind: 'after', ms: Math.round(minutes * MINUTE) });

/** The runbook's "Escalation Matrix" table, row by row. */
export const DEFAULT_SEVERITY_PLANS: Readonly<Record<Severity, SeverityPlan>> = {
  'SEV-1': {
    initial: ['on-call'],
    pages: SEVERITY_REQUIREMENTS['SEV-1'].pages,
    acknowledge: true,
    ackEscalation: ['senior-sre'],
    steps: [
      { when: after(30), levels: ['senior-sre', 'dev-lead'] },
      { when: after(60), levels: ['cto'] },
    ],
    workflow: true,
  },
  'SEV-2': {
    initial: ['on-call'],
    pages: SEVERITY_REQUIREMENTS['SEV-2'].pages,
    acknowledge: true,
    ackEscalation: ['senior-sre'],
    steps: [
      { when: after(30), levels: ['senior-sre'] },
      { when: after(60), levels: ['dev-lead'] },
    ],
    workflow: true,
  },
  'SEV-3': {
    initial: ['on-call'],
    pages: SEVERITY_REQUIREMENTS['SEV-3'].pages,
    acknowledge: true,
    ackEscalation: [],
    steps: [{ when: { kind: 'next-business-day' }, levels: ['senior-sre'] }],
    workflow: true,
  },
  'SEV-4': {
    initial: [],
    pages: SEVERITY_REQUIREMENTS['SEV-4'].pages,
    acknowledge: false,
    ackEscalation: [],
    steps: [],
    workflow: false,
  },
};

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A fixed offset from UTC, or an IANA zone (daylight saving time applies). */
export type TimeZone =
  | { readonly kind: 'offset'; readonly minutes: number; readonly label: string }
  | { readonly kind: 'iana'; readonly name: string };

export const UTC: TimeZone = { kind: 'offset', minutes: 0, label: 'UTC' };

export interface BusinessHours {
  readonly timeZone: TimeZone;
  readonly days: readonly Weekday[];
  /** When a business day starts, in minutes after local midnight. */
  readonly startMinute: number;
}

export interface MaintenanceSchedule {
  readonly enabled: boolean;
  /** The `ordinal`-th `weekday` of each month, starting `startMinute` minutes after 00:00 UTC. */
  readonly weekday: Weekday;
  readonly ordinal: number;
  readonly startMinute: number;
  readonly durationMs: number;
  /** How long before the start the window is announced. */
  readonly announceMs: number;
  /** Severities that page even inside the window (always SEV-1). */
  readonly pagingSeverities: readonly Severity[];
}

export interface EscalationMatrix {
  /** Level name → who; the order of the keys is the order titles are listed in. */
  readonly levels: Readonly<Record<string, EscalationLevel>>;
  readonly severities: Readonly<Record<Severity, SeverityPlan>>;
  readonly ack: { readonly reminderMs: number; readonly escalationMs: number };
  readonly lifecycle: {
    readonly diagnoseMs: number;
    readonly mitigateMs: number;
    readonly resolveMs: number;
    /** Counted from the resolution. */
    readonly postmortemMs: number;
  };
  readonly snooze: { readonly defaultMs: number; readonly maxMs: number };
  readonly businessHours: BusinessHours;
  readonly maintenance: MaintenanceSchedule;
}

const hhmmToMinutes = (hhmm: string): number => {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
};

export const DEFAULT_MAINTENANCE: MaintenanceSchedule = {
  enabled: true,
  weekday: MAINTENANCE_WINDOW.weekday,
  ordinal: MAINTENANCE_WINDOW.ordinal,
  startMinute: hhmmToMinutes(MAINTENANCE_WINDOW.startUtc),
  durationMs:
    (hhmmToMinutes(MAINTENANCE_WINDOW.endUtc) - hhmmToMinutes(MAINTENANCE_WINDOW.startUtc)) * MINUTE,
  announceMs: MAINTENANCE_WINDOW.noticeHours * HOUR,
  pagingSeverities: ['SEV-1'],
};

export const DEFAULT_ESCALATION_MATRIX: EscalationMatrix = {
  levels: DEFAULT_LEVELS,
  severities: DEFAULT_SEVERITY_PLANS,
  // The runbook asks for an acknowledgement within 15 min; the reminder at 10 min is issue 7's.
  ack: { reminderMs: 10 * MINUTE, escalationMs: RESPONSE_TARGETS.acknowledgeMinutes * MINUTE },
  lifecycle: {
    diagnoseMs: RESPONSE_TARGETS.diagnoseMinutes * MINUTE,
    mitigateMs: RESPONSE_TARGETS.mitigateMinutes * MINUTE,
    resolveMs: RESPONSE_TARGETS.resolveMinutes * MINUTE,
    postmortemMs: RESPONSE_TARGETS.postmortemHours * HOUR,
  },
  snooze: { defaultMs: 30 * MINUTE, maxMs: 2 * HOUR },
  // The runbook's on-call rotation changes on Monday 09:00 UTC; business days follow that clock.
  businessHours: { timeZone: UTC, days: ['mon', 'tue', 'wed', 'thu', 'fri'], startMinute: 9 * 60 },
  maintenance: DEFAULT_MAINTENANCE,
};

// ---------------------------------------------------------------------------------------------
// Time zones and business days

const OFFSET = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/i;

/** "UTC", "+03:00", "UTC+3", "-05:30", "Asia/Qatar"; null when it is none of these. */
export function parseTimeZone(text: string): TimeZone | null {
  const t = text.trim();
  if (t.length === 0) return null;
  if (/^(?:UTC|GMT|Z)$/i.test(t)) return UTC;
  const m = OFFSET.exec(t);
  if (m) {
    const hours = Number(m[2]);
    const minutes = Number(m[3] ?? '0');
    if (hours > 14 || minutes > 59) return null;
    const sign = m[1] === '-' ? -1 : 1;
    if (hours === 0 && minutes === 0) return UTC;
    const label = `UTC${m[1]}${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
    return { kind: 'offset', minutes: sign * (hours * 60 + minutes), label };
  }
  try {
    // Intl knows the IANA database; its canonical name keeps "asia/qatar" and "Asia/Qatar" equal.
    return {
      kind: 'iana',
      name: new Intl.DateTimeFormat('en-US', { timeZone: t }).resolvedOptions().timeZone,
    };
  } catch {
    return null;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(name: string): Intl.DateTimeFormat {
  let f = formatters.get(name);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(name, f);
  }
  return f;
}

/** How far `zone`'s wall clock is ahead of UTC at the instant `ms`. */
function offsetMs(ms: number, zone: TimeZone): number {
  if (zone.kind === 'offset') return zone.minutes * MINUTE;
  const parts = formatterFor(zone.name).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(
    part('year'),
    part('month') - 1,
    part('day'),
    part('hour'),
    part('minute'),
    part('second'),
  );
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The instant at which `zone`'s wall clock reads the given local date and minute of the day. */
function instantOf(year: number, month0: number, day: number, minuteOfDay: number, zone: TimeZone): number {
  const wall = Date.UTC(year, month0, day, 0, minuteOfDay);
  // Twice, because the offset at the guess may differ from the offset at the answer (DST).
  const first = wall - offsetMs(wall, zone);
  return wall - offsetMs(first, zone);
}

/**
 * The start of the first business day after the local calendar day of `from`. "Next business
 * day" is read literally: an incident opened on Monday at 03:00 escalates on Tuesday at 09:00,
 * not on Monday at 09:00 (the 4-hour resolve reminder covers the same day).
 */
export function nextBusinessDay(from: number, hours: BusinessHours): number {
  const local = new Date(from + offsetMs(from, hours.timeZone));
  for (let i = 1; i <= 7; i++) {
    const day = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + i));
    const weekday = WEEKDAYS[day.getUTCDay()];
    if (weekday && hours.days.includes(weekday))
      return instantOf(
        day.getUTCFullYear(),
        day.getUTCMonth(),
        day.getUTCDate(),
        hours.startMinute,
        hours.timeZone,
      );
  }
  // The configuration schema requires at least one business day.
  throw new RangeError('business hours name no business day');
}

// ---------------------------------------------------------------------------------------------
// Maintenance window

export interface MaintenanceWindow {
  /** "maintenance-2025-01-12": stable, usable as a job id. */
  readonly id: string;
  /** Inclusive. */
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  /** When the announcement is due (`start` minus the notice). */
  readonly announceAt: number;
}

function windowOfMonth(year: number, month0: number, s: MaintenanceSchedule): MaintenanceWindow {
  const firstWeekday = new Date(Date.UTC(year, month0, 1)).getUTCDay();
  const target = WEEKDAYS.indexOf(s.weekday);
  const day = 1 + ((target - firstWeekday + 7) % 7) + 7 * (s.ordinal - 1);
  const start = Date.UTC(year, month0, day, 0, s.startMinute);
  return {
    id: `maintenance-${new Date(start).toISOString().slice(0, 10)}`,
    start,
    end: start + s.durationMs,
    announceAt: start - s.announceMs,
  };
}

/** The window containing `now`, or null. */
export function maintenanceWindowAt(
  now: number,
  schedule: MaintenanceSchedule = DEFAULT_MAINTENANCE,
): MaintenanceWindow | null {
  if (!schedule.enabled) return null;
  const d = new Date(now);
  for (const offset of [-1, 0]) {
    const w = windowOfMonth(d.getUTCFullYear(), d.getUTCMonth() + offset, schedule);
    if (w.start <= now && now < w.end) return w;
  }
  return null;
}

/** The first window starting after `now` (inside a window, the following one); null if disabled. */
export function nextMaintenanceWindow(
  now: number,
  schedule: MaintenanceSchedule = DEFAULT_MAINTENANCE,
): MaintenanceWindow | null {
  if (!schedule.enabled) return null;
  const d = new Date(now);
  for (const offset of [0, 1]) {
    const w = windowOfMonth(d.getUTCFullYear(), d.getUTCMonth() + offset, schedule);
    if (w.start > now) return w;
  }
  // Unreachable: next month's window always starts after `now`.
  return null;
}

/**
 * The window whose announcement is due at `now` (from `announceAt` until the window starts), or
 * null. A late run (the bot was down at `announceAt`) still announces; the window's `id` is what
 * makes it once.
 */
export function announcementDue(
  now: number,
  schedule: MaintenanceSchedule = DEFAULT_MAINTENANCE,
): MaintenanceWindow | null {
  const next = nextMaintenanceWindow(now, schedule);
  return next && next.announceAt <= now ? next : null;
}

/**
 * Whether the maintenance window lets an alert of `severity` page at `now`: false only inside a
 * window for a severity the window does not page for (by default anything but SEV-1). Whether the
 * severity pages at all is the matrix's `pages` (see `pagesAt`).
 */
export function pagesDuringMaintenance(
  severity: Severity,
  now: number,
  schedule: MaintenanceSchedule = DEFAULT_MAINTENANCE,
): boolean {
  return maintenanceWindowAt(now, schedule) === null || schedule.pagingSeverities.includes(severity);
}

/** Whether something of `severity` that pages would page at `now`. */
export function pagesAt(severity: Severity, matrix: EscalationMatrix, now: number): boolean {
  return matrix.severities[severity].pages && pagesDuringMaintenance(severity, now, matrix.maintenance);
}

// ---------------------------------------------------------------------------------------------
// Configuration

const LEVEL_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const LEVEL_NAME_RULE = 'a level name is lower-case letters, digits and "-" (e.g. senior-sre)';
const levelNameSchema = z.string().regex(LEVEL_NAME, LEVEL_NAME_RULE);
/** Mentions need the group's id (`<!subteam^S…>`); a handle cannot be mentioned. */
const slackGroupIdSchema = z
  .string()
  .regex(/^S[A-Z0-9]{2,30}$/, 'must be a Slack user group id (S…); a handle cannot be mentioned');
const hhmmSchema = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, 24-hour (e.g. 09:00)');
/**
 * Minutes; fractions down to 3 s are allowed so a lab or a drill can run the whole clock in
 * seconds (the runbook's own figures are whole minutes).
 */
const minutesSchema = (max: number) => z.number().min(0.05, 'must be at least 0.05 (3 s)').max(max);
const weekdaySchema = z.enum(WEEKDAYS, { error: `must be one of ${WEEKDAYS.join(', ')}` });
const severitySchema = z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` });
/** One line a person reads; it goes into Slack text. */
const titleSchema = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .regex(/^[^\p{Cc}\p{Cf}<>&*_~`]+$/u, 'one plain line: no control characters or Slack markup (<>&*_~`)');

const timeZoneSchema = z.string().transform((text, ctx): TimeZone => {
  const zone = parseTimeZone(text);
  if (!zone) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown time zone "${text}": use UTC, an offset (+03:00) or an IANA name (Asia/Qatar)`,
    });
    return z.NEVER;
  }
  return zone;
});

const levelOverrideSchema = z.strictObject({
  title: titleSchema.optional(),
  slackUsers: z.array(slackUserIdSchema).max(50).optional(),
  slackGroups: z.array(slackGroupIdSchema).max(20).optional(),
  pagerDutyLevel: z.number().int().min(1).max(20).nullable().optional(),
});

const MAX_STEP_MINUTES = 7 * 24 * 60;

const stepSchema = z
  .strictObject({
    after: z.union([minutesSchema(MAX_STEP_MINUTES), z.literal('next-business-day')], {
      error: `minutes after opening (1–${MAX_STEP_MINUTES}) or "next-business-day"`,
    }),
    levels: z.array(levelNameSchema).min(1, 'a step escalates to at least one level').max(10),
  })
  .transform(
    (s): EscalationStep => ({
      when: s.after === 'next-business-day' ? { kind: 'next-business-day' } : after(s.after),
      levels: s.levels,
    }),
  );

const planOverrideSchema = z.strictObject({
  initial: z.array(levelNameSchema).max(10).optional(),
  pages: z.boolean().optional(),
  acknowledge: z.boolean().optional(),
  ackEscalation: z.array(levelNameSchema).max(10).optional(),
  steps: z.array(stepSchema).max(10).optional(),
  workflow: z.boolean().optional(),
});

const overridesShape = z.strictObject({
  // Keys are checked in matrixIssues: a record's key error would not say what is wrong.
  levels: z.record(z.string(), levelOverrideSchema).optional(),
  severities: z.partialRecord(severitySchema, planOverrideSchema).optional(),
  ack: z
    .strictObject({
      reminderMinutes: minutesSchema(24 * 60).optional(),
      escalationMinutes: minutesSchema(24 * 60).optional(),
    })
    .optional(),
  lifecycle: z
    .strictObject({
      diagnoseMinutes: minutesSchema(7 * 24 * 60).optional(),
      mitigateMinutes: minutesSchema(7 * 24 * 60).optional(),
      resolveMinutes: minutesSchema(7 * 24 * 60).optional(),
      postmortemHours: z
        .number()
        .int()
        .min(1)
        .max(30 * 24)
        .optional(),
    })
    .optional(),
  snooze: z
    .strictObject({
      defaultMinutes: minutesSchema(24 * 60).optional(),
      maxMinutes: minutesSchema(24 * 60).optional(),
    })
    .optional(),
  businessHours: z
    .strictObject({
      timeZone: timeZoneSchema.optional(),
      days: z
        .array(weekdaySchema)
        .min(1, 'name at least one business day')
        .refine((d) => new Set(d).size === d.length, 'names a day twice')
        .optional(),
      start: hhmmSchema.optional(),
    })
    .optional(),
  maintenance: z
    .strictObject({
      enabled: z.boolean().optional(),
      weekday: weekdaySchema.optional(),
      // A 5th weekday does not exist in every month.
      ordinal: z.number().int().min(1).max(4).optional(),
      start: hhmmSchema.optional(),
      durationMinutes: minutesSchema(24 * 60).optional(),
      announceHoursBefore: z
        .number()
        .int()
        .min(1)
        .max(14 * 24)
        .optional(),
      pagingSeverities: z
        .array(severitySchema)
        .refine((s) => s.includes('SEV-1'), 'must include SEV-1: a complete outage pages, maintenance or not')
        .optional(),
    })
    .optional(),
});
export type EscalationMatrixOverrides = z.output<typeof overridesShape>;

/**
 * Configuration overrides (e.g. JSON in an environment variable), merged over the runbook's
 * defaults by `escalationMatrixFrom`. Every field is optional. Levels can be added or changed,
 * never removed; every level a severity names must exist after the merge, and the merged timings
 * must keep their order (reminder before escalation, diagnose ≤ mitigate ≤ resolve, …).
 */
export const escalationMatrixOverridesSchema = overridesShape.superRefine(
  (o, ctx) => {
    for (const issue of matrixIssues(o)) ctx.addIssue({ code: 'custom', ...issue });
  },
  // Zod runs refinements over input that already failed; the cross-field checks need parsed data.
  { when: (payload) => payload.issues.length === 0 },
);

/** Cross-field problems of `o` merged over the defaults, with paths into `o`. */
function matrixIssues(o: EscalationMatrixOverrides): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const m = escalationMatrixFrom(o);
  for (const name of Object.keys(o.levels ?? {}))
    if (!LEVEL_NAME.test(name)) issues.push({ path: ['levels', name], message: LEVEL_NAME_RULE });
  const known = Object.keys(m.levels);
  const checkLevels = (levels: readonly string[], path: (string | number)[]) => {
    levels.forEach((level, i) => {
      if (!m.levels[level])
        issues.push({
          path: [...path, i],
          message: `unknown level "${level}" (levels: ${known.join(', ')})`,
        });
      else if (levels.indexOf(level) !== i)
        issues.push({ path: [...path, i], message: `"${level}" is named twice` });
    });
  };
  for (const severity of SEVERITIES) {
    const over = o.severities?.[severity];
    if (!over) continue;
    const base: (string | number)[] = ['severities', severity];
    const plan = m.severities[severity];
    if (over.initial) checkLevels(over.initial, [...base, 'initial']);
    if (over.ackEscalation) checkLevels(over.ackEscalation, [...base, 'ackEscalation']);
    let previous = 0;
    over.steps?.forEach((step, i) => {
      checkLevels(step.levels, [...base, 'steps', i, 'levels']);
      if (step.when.kind !== 'after') return;
      if (step.when.ms <= previous)
        issues.push({
          path: [...base, 'steps', i, 'after'],
          message: 'must be later than the step before it',
        });
      previous = step.when.ms;
    });
    const needsSomeone = plan.pages || plan.acknowledge || plan.workflow || plan.steps.length > 0;
    if (needsSomeone && plan.initial.length === 0)
      issues.push({
        path: [...base, 'initial'],
        message: `is empty, but ${severity} pages, runs timers or escalates: someone must be told first`,
      });
    if (!plan.acknowledge && plan.ackEscalation.length > 0)
      issues.push({
        path: [...base, 'ackEscalation'],
        message: 'has no effect while acknowledge is false',
      });
  }
  if (o.ack && m.ack.reminderMs >= m.ack.escalationMs)
    issues.push({
      path: ['ack', o.ack.reminderMinutes !== undefined ? 'reminderMinutes' : 'escalationMinutes'],
      message: `the reminder (${formatDuration(m.ack.reminderMs)}) must come before the escalation (${formatDuration(m.ack.escalationMs)})`,
    });
  const l = m.lifecycle;
  if (o.lifecycle && !(l.diagnoseMs <= l.mitigateMs && l.mitigateMs <= l.resolveMs))
    issues.push({
      path: ['lifecycle'],
      message:
        `marks must not go backwards: diagnose ${formatDuration(l.diagnoseMs)} ≤ mitigate ` +
        `${formatDuration(l.mitigateMs)} ≤ resolve ${formatDuration(l.resolveMs)}`,
    });
  if (o.snooze && m.snooze.defaultMs > m.snooze.maxMs)
    issues.push({
      path: ['snooze', 'defaultMinutes'],
      message: `cannot exceed the maximum (${formatDuration(m.snooze.maxMs)})`,
    });
  return issues;
}

/** The defaults with `overrides` (already parsed by `escalationMatrixOverridesSchema`) applied. */
export function escalationMatrixFrom(overrides: EscalationMatrixOverrides = {}): EscalationMatrix {
  const d = DEFAULT_ESCALATION_MATRIX;
  const levels: Record<string, EscalationLevel> = { ...d.levels };
  for (const [name, over] of Object.entries(overrides.levels ?? {})) {
    const base = levels[name] ?? { title: name, slackUsers: [], slackGroups: [], pagerDutyLevel: null };
    levels[name] = {
      title: over.title ?? base.title,
      slackUsers: over.slackUsers ?? base.slackUsers,
      slackGroups: over.slackGroups ?? base.slackGroups,
      pagerDutyLevel: over.pagerDutyLevel !== undefined ? over.pagerDutyLevel : base.pagerDutyLevel,
    };
  }
  const severities = { ...d.severities };
  for (const severity of SEVERITIES) {
    const over = overrides.severities?.[severity];
    if (!over) continue;
    const base = severities[severity];
    severities[severity] = {
      initial: over.initial ?? base.initial,
      pages: over.pages ?? base.pages,
      acknowledge: over.acknowledge ?? base.acknowledge,
      ackEscalation: over.ackEscalation ?? base.ackEscalation,
      steps: over.steps ?? base.steps,
      workflow: over.workflow ?? base.workflow,
    };
  }
  const min = (v: number | undefined, fallback: number) =>
    v !== undefined ? Math.round(v * MINUTE) : fallback;
  const { ack, lifecycle, snooze, businessHours: bh, maintenance: mw } = overrides;
  return {
    levels,
    severities,
    ack: {
      reminderMs: min(ack?.reminderMinutes, d.ack.reminderMs),
      escalationMs: min(ack?.escalationMinutes, d.ack.escalationMs),
    },
    lifecycle: {
      diagnoseMs: min(lifecycle?.diagnoseMinutes, d.lifecycle.diagnoseMs),
      mitigateMs: min(lifecycle?.mitigateMinutes, d.lifecycle.mitigateMs),
      resolveMs: min(lifecycle?.resolveMinutes, d.lifecycle.resolveMs),
      postmortemMs:
        lifecycle?.postmortemHours !== undefined
          ? lifecycle.postmortemHours * HOUR
          : d.lifecycle.postmortemMs,
    },
    snooze: {
      defaultMs: min(snooze?.defaultMinutes, d.snooze.defaultMs),
      maxMs: min(snooze?.maxMinutes, d.snooze.maxMs),
    },
    businessHours: {
      timeZone: bh?.timeZone ?? d.businessHours.timeZone,
      days: bh?.days ?? d.businessHours.days,
      startMinute: bh?.start !== undefined ? hhmmToMinutes(bh.start) : d.businessHours.startMinute,
    },
    maintenance: {
      enabled: mw?.enabled ?? d.maintenance.enabled,
      weekday: mw?.weekday ?? d.maintenance.weekday,
      ordinal: mw?.ordinal ?? d.maintenance.ordinal,
      startMinute: mw?.start !== undefined ? hhmmToMinutes(mw.start) : d.maintenance.startMinute,
      durationMs: min(mw?.durationMinutes, d.maintenance.durationMs),
      announceMs:
        mw?.announceHoursBefore !== undefined ? mw.announceHoursBefore * HOUR : d.maintenance.announceMs,
      pagingSeverities: mw?.pagingSeverities ?? d.maintenance.pagingSeverities,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Incidents and their timers

/** What the clock needs to know about an incident. Any recorded fact counts, whatever its time. */
export interface EscalationIncident {
  /** The store's incident id. */
  readonly id: number;
  readonly severity: Severity;
  /** When the runbook's clock started (the incident's `openedAt`), epoch ms. */
  readonly openedAt: number;
  readonly acknowledgedAt?: number | null;
  readonly diagnosedAt?: number | null;
  readonly mitigatedAt?: number | null;
  readonly resolvedAt?: number | null;
  /** When a post-mortem link was recorded. */
  readonly postmortemLinkedAt?: number | null;
  /** Reminders wait until then (see `evaluateSnooze`). */
  readonly snoozedUntil?: number | null;
}

/** In this order when two are due at the same instant: pages before reminders. */
export const TIMER_KINDS = [
  'maintenance-release',
  'ack-escalation',
  'escalation',
  'ack-reminder',
  'diagnose-reminder',
  'mitigate-reminder',
  'resolve-reminder',
  'postmortem-reminder',
] as const;
export type TimerKind = (typeof TIMER_KINDS)[number];

export interface TimerAction {
  /** The delayed job's id: `timer-<incident>-<openedAt>-<what>`; no ':'. */
  readonly id: string;
  readonly incidentId: number;
  readonly kind: TimerKind;
  /** When it is due, epoch ms. */
  readonly at: number;
  /** Who it addresses (level names). */
  readonly levels: readonly string[];
  /** For `escalation`: the step's number, 1 first; otherwise null. */
  readonly step: number | null;
}

/** Whether a kind escalates (and so may page); the others are reminders in Slack. */
export function escalates(kind: TimerKind): boolean {
  return kind === 'ack-escalation' || kind === 'escalation' || kind === 'maintenance-release';
}

const isSet = (v: number | null | undefined): v is number => v !== null && v !== undefined;

function timerId(incident: EscalationIncident, what: string): string {
  if (!Number.isSafeInteger(incident.id) || !Number.isSafeInteger(incident.openedAt))
    throw new TypeError(
      `incident id and openedAt must be integers (got ${incident.id}, ${incident.openedAt})`,
    );
  return `timer-${incident.id}-${incident.openedAt}-${what}`;
}

function stepAt(step: EscalationStep, openedAt: number, matrix: EscalationMatrix): number {
  switch (step.when.kind) {
    case 'after':
      return openedAt + step.when.ms;
    case 'next-business-day':
      return nextBusinessDay(openedAt, matrix.businessHours);
    default:
      return assertNever(step.when, 'step time');
  }
}

function byLevelOrder(levels: Iterable<string>, matrix: EscalationMatrix): string[] {
  const order = Object.keys(matrix.levels);
  return [...new Set(levels)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

function compareTimers(a: TimerAction, b: TimerAction): number {
  return (
    a.at - b.at || TIMER_KINDS.indexOf(a.kind) - TIMER_KINDS.indexOf(b.kind) || (a.step ?? 0) - (b.step ?? 0)
  );
}

/**
 * Every timer the incident needs in its current state, earliest first, including ones already due
 * (a caller enqueues each with delay `max(0, at - now)`; a job id that exists is not added twice).
 * Timers the state has cancelled are left out: acknowledged → no acknowledge timers; diagnosed /
 * mitigated → no such reminder; resolved → only the post-mortem reminder, unless a link is recorded.
 */
export function timersFor(incident: EscalationIncident, matrix: EscalationMatrix): TimerAction[] {
  const plan = matrix.severities[incident.severity];
  const opened = incident.openedAt;
  const out: TimerAction[] = [];
  const add = (
    kind: TimerKind,
    what: string,
    at: number,
    levels: readonly string[],
    step: number | null = null,
  ) => out.push({ id: timerId(incident, what), incidentId: incident.id, kind, at, levels, step });

  if (isSet(incident.resolvedAt)) {
    if (plan.workflow && !isSet(incident.postmortemLinkedAt))
      add(
        'postmortem-reminder',
        `postmortem-${incident.resolvedAt}`,
        incident.resolvedAt + matrix.lifecycle.postmortemMs,
        plan.initial,
      );
    return out;
  }
  const acknowledged = isSet(incident.acknowledgedAt);
  if (plan.acknowledge && !acknowledged) {
    add('ack-reminder', 'ack-reminder', opened + matrix.ack.reminderMs, plan.initial);
    if (plan.ackEscalation.length > 0)
      add('ack-escalation', 'ack-escalation', opened + matrix.ack.escalationMs, plan.ackEscalation);
  }
  // Steps carry the severity in their id: another severity's steps go to other people.
  const sev = incident.severity.toLowerCase().replace('-', '');
  plan.steps.forEach((step, i) => {
    add('escalation', `escalation-${sev}-${i + 1}`, stepAt(step, opened, matrix), step.levels, i + 1);
  });
  if (plan.workflow) {
    const l = matrix.lifecycle;
    if (!isSet(incident.diagnosedAt))
      add('diagnose-reminder', 'diagnose', opened + l.diagnoseMs, plan.initial);
    if (!isSet(incident.mitigatedAt))
      add('mitigate-reminder', 'mitigate', opened + l.mitigateMs, plan.initial);
    add('resolve-reminder', 'resolve', opened + l.resolveMs, plan.initial);
  }
  const m = matrix.maintenance;
  if (plan.pages && m.enabled && !m.pagingSeverities.includes(incident.severity)) {
    // Pages a window holds back, by window: the opening page (while nobody has acknowledged) and
    // every escalation inside it.
    const held = new Map<string, { window: MaintenanceWindow; levels: string[] }>();
    const hold = (at: number, levels: readonly string[]) => {
      const window = maintenanceWindowAt(at, m);
      if (!window) return;
      const entry = held.get(window.id) ?? { window, levels: [] };
      entry.levels.push(...levels);
      held.set(window.id, entry);
    };
    if (!acknowledged) hold(opened, plan.initial);
    for (const t of out) if (t.kind === 'ack-escalation' || t.kind === 'escalation') hold(t.at, t.levels);
    for (const { window, levels } of held.values())
      add('maintenance-release', `release-${window.start}`, window.end, byLevelOrder(levels, matrix));
  }
  return out.sort(compareTimers);
}

// ---------------------------------------------------------------------------------------------
// Who is addressed

export interface Recipients {
  /** "Senior SRE + Dev Lead". */
  readonly titles: string;
  readonly slackUsers: readonly string[];
  readonly slackGroups: readonly string[];
  /** `<@U…>` and `<!subteam^S…>`, each once. */
  readonly mentions: readonly string[];
  /** The highest PagerDuty level among them; null when none is in PagerDuty. */
  readonly pagerDutyLevel: number | null;
}

export function titlesOf(levels: readonly string[], matrix: EscalationMatrix): string {
  return levels.map((l) => matrix.levels[l]?.title ?? l).join(' + ');
}

export function recipientsOf(levels: readonly string[], matrix: EscalationMatrix): Recipients {
  const found = levels.map((l) => matrix.levels[l]).filter((l): l is EscalationLevel => !!l);
  const slackUsers = [...new Set(found.flatMap((l) => l.slackUsers))];
  const slackGroups = [...new Set(found.flatMap((l) => l.slackGroups))];
  const pd = found.map((l) => l.pagerDutyLevel).filter((n): n is number => n !== null);
  return {
    titles: titlesOf(levels, matrix),
    slackUsers,
    slackGroups,
    mentions: [...slackUsers.map((u) => `<@${u}>`), ...slackGroups.map((g) => `<!subteam^${g}>`)],
    pagerDutyLevel: pd.length > 0 ? Math.max(...pd) : null,
  };
}

/** Who is told when an incident of `severity` opens at `now`, and whether they are paged. */
export interface OpeningResponse {
  readonly levels: readonly string[];
  readonly page: boolean;
  /** Set when a maintenance window holds the page back: when it ends (a release timer pages then). */
  readonly heldUntil: number | null;
}

export function openingResponse(severity: Severity, matrix: EscalationMatrix, now: number): OpeningResponse {
  const plan = matrix.severities[severity];
  const page = pagesAt(severity, matrix, now);
  const held = plan.pages && !page ? maintenanceWindowAt(now, matrix.maintenance) : null;
  return { levels: plan.initial, page, heldUntil: held?.end ?? null };
}

// ---------------------------------------------------------------------------------------------
// When a timer fires

export const DROP_CODES = [
  'other-incident',
  'resolved',
  'acknowledged',
  'diagnosed',
  'mitigated',
  'postmortem-linked',
  'not-scheduled',
  'superseded',
] as const;
export type DropCode = (typeof DROP_CODES)[number];

export type TimerVerdict =
  | {
      readonly decision: 'act';
      /** The timer as the current schedule has it (levels may have changed since it was queued). */
      readonly action: TimerAction;
      /** Page through PagerDuty (else only mention in Slack). */
      readonly page: boolean;
      /** The PagerDuty level to escalate to when paging; null otherwise. */
      readonly pagerDutyLevel: number | null;
      /** The sentence for the incident's thread. */
      readonly message: string;
    }
  | {
      readonly decision: 'postpone';
      readonly code: 'early' | 'snoozed';
      /** Fire again then (same job id). */
      readonly until: number;
      readonly reason: string;
    }
  | { readonly decision: 'drop'; readonly code: DropCode; readonly reason: string };

export type ActVerdict = Extract<TimerVerdict, { decision: 'act' }>;

/** Whether a timer of `kind` pages when it acts at `at` (reminders never do). */
function pagesFor(kind: TimerKind, severity: Severity, matrix: EscalationMatrix, at: number): boolean {
  if (!escalates(kind) || !matrix.severities[severity].pages) return false;
  // A release fires when its window ends; it exists only to page.
  return kind === 'maintenance-release' || pagesDuringMaintenance(severity, at, matrix.maintenance);
}

/** "30 min", "1 h", "1 h 30 min", "48 h". */
export function formatDuration(ms: number): string {
  if (ms < MINUTE - 500) return `${Math.max(1, Math.round(ms / 1000))} s`;
  const minutes = Math.round(ms / MINUTE);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${h} h` : `${h} h ${minutes % 60} min`;
}

function threadMessage(
  action: TimerAction,
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
  page: boolean,
): string {
  const who = titlesOf(action.levels, matrix);
  const l = matrix.lifecycle;
  let text: string;
  switch (action.kind) {
    case 'ack-reminder':
      text =
        `Not acknowledged ${formatDuration(matrix.ack.reminderMs)} after it opened: ${who}, please ` +
        `acknowledge (target: within ${formatDuration(matrix.ack.escalationMs)})`;
      break;
    case 'ack-escalation':
      text = `Not acknowledged within ${formatDuration(matrix.ack.escalationMs)}: escalating to ${who}`;
      break;
    case 'escalation': {
      const step = matrix.severities[incident.severity].steps[(action.step ?? 1) - 1];
      const when =
        step?.when.kind === 'after'
          ? `${formatDuration(step.when.ms)} after it opened`
          : 'by the next business day';
      text = `Not resolved ${when}: escalating to ${who} (escalation matrix, ${incident.severity} step ${action.step})`;
      break;
    }
    case 'maintenance-release':
      text =
        `The maintenance window ended at ${formatUtc(action.at, now)} and this is still open: paging ${who} ` +
        '(paging was held during the window)';
      break;
    case 'diagnose-reminder':
      text = `No diagnosis recorded within ${formatDuration(l.diagnoseMs)} of opening (target): ${who}, please diagnose`;
      break;
    case 'mitigate-reminder':
      text = `Not mitigated within ${formatDuration(l.mitigateMs)} of opening (target): ${who}, please mitigate`;
      break;
    case 'resolve-reminder':
      text = `Not resolved within ${formatDuration(l.resolveMs)} of opening (target): ${who}, please resolve or say why not`;
      break;
    case 'postmortem-reminder':
      text =
        `No post-mortem linked within ${formatDuration(l.postmortemMs)} of the resolution (target): ` +
        `${who}, please write it and record its link`;
      break;
    default:
      return assertNever(action.kind, 'timer kind');
  }
  return heldNote(text, action.kind, incident.severity, matrix, now, page);
}

function heldNote(
  text: string,
  kind: TimerKind,
  severity: Severity,
  matrix: EscalationMatrix,
  at: number,
  page: boolean,
): string {
  if (page || !escalates(kind) || !matrix.severities[severity].pages) return text;
  const window = maintenanceWindowAt(at, matrix.maintenance);
  return window ? `${text} (Slack only: maintenance window until ${formatUtc(window.end, at)})` : text;
}

/**
 * Should a timer that fired at `now` act? `action` is what was queued; the incident is its state
 * now. The answer is `act` (with the current version of the timer, whether to page, and the
 * thread's sentence), `postpone` until a later instant, or `drop` with a stable code.
 */
export function stillValid(
  action: TimerAction,
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
): TimerVerdict {
  const drop = (code: DropCode, reason: string): TimerVerdict => ({ decision: 'drop', code, reason });
  if (action.incidentId !== incident.id || !action.id.startsWith(timerId(incident, '')))
    return drop(
      'other-incident',
      `timer ${action.id} is not for incident ${incident.id} opened at ${incident.openedAt}`,
    );
  if (isSet(incident.resolvedAt) && action.kind !== 'postmortem-reminder')
    return drop('resolved', `resolved at ${formatUtc(incident.resolvedAt, now)}`);
  switch (action.kind) {
    case 'ack-reminder':
    case 'ack-escalation':
      if (isSet(incident.acknowledgedAt))
        return drop('acknowledged', `acknowledged at ${formatUtc(incident.acknowledgedAt, now)}`);
      break;
    case 'diagnose-reminder':
      if (isSet(incident.diagnosedAt))
        return drop('diagnosed', `diagnosed at ${formatUtc(incident.diagnosedAt, now)}`);
      break;
    case 'mitigate-reminder':
      if (isSet(incident.mitigatedAt))
        return drop('mitigated', `mitigated at ${formatUtc(incident.mitigatedAt, now)}`);
      break;
    case 'postmortem-reminder':
      if (isSet(incident.postmortemLinkedAt))
        return drop(
          'postmortem-linked',
          `post-mortem linked at ${formatUtc(incident.postmortemLinkedAt, now)}`,
        );
      break;
    case 'escalation':
    case 'resolve-reminder':
    case 'maintenance-release':
      break;
    default:
      return assertNever(action.kind, 'timer kind');
  }
  const schedule = timersFor(incident, matrix);
  const current = schedule.find((t) => t.id === action.id);
  if (!current)
    return drop(
      'not-scheduled',
      `the ${incident.severity} schedule no longer has ${action.id} (severity or configuration changed)`,
    );
  if (current.at > now)
    return {
      decision: 'postpone',
      code: 'early',
      until: current.at,
      reason: `due at ${formatUtc(current.at, now)}`,
    };
  const ackEscalation = schedule.find((t) => t.kind === 'ack-escalation');
  // After a delay (bot down, queue backlog) the escalation says all the reminder would have.
  if (current.kind === 'ack-reminder' && ackEscalation && ackEscalation.at <= now)
    return drop('superseded', 'the acknowledge escalation is due, which says more');
  const snoozedUntil = incident.snoozedUntil;
  if (!escalates(current.kind) && isSet(snoozedUntil) && snoozedUntil > now)
    return {
      decision: 'postpone',
      code: 'snoozed',
      until: snoozedUntil,
      reason: `snoozed until ${formatUtc(snoozedUntil, now)}`,
    };
  const page = pagesFor(current.kind, incident.severity, matrix, now);
  return {
    decision: 'act',
    action: current,
    page,
    pagerDutyLevel: page ? recipientsOf(current.levels, matrix).pagerDutyLevel : null,
    message: threadMessage(current, incident, matrix, now, page),
  };
}

/**
 * The timers that should act at `now`, earliest first: due, and `stillValid` says act. It does not
 * know which have already run (that is the queue's), so use it to catch up after an outage with
 * the fired ids excluded, or to test.
 */
export function dueNow(incident: EscalationIncident, matrix: EscalationMatrix, now: number): ActVerdict[] {
  const out: ActVerdict[] = [];
  for (const t of timersFor(incident, matrix)) {
    if (t.at > now) continue;
    const v = stillValid(t, incident, matrix, now);
    if (v.decision === 'act') out.push(v);
  }
  return out;
}

export interface NextStep {
  readonly action: TimerAction;
  /** When it will act (a snooze moves reminders). */
  readonly at: number;
  readonly page: boolean;
  /** "escalates to Senior SRE + Dev Lead at 03:42 UTC". */
  readonly sentence: string;
}

/**
 * The next thing that will happen after `now`, and a sentence for the incident message; null when
 * nothing will. `kinds` narrows it (e.g. to escalations only).
 */
export function nextStep(
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
  options: { readonly kinds?: readonly TimerKind[] } = {},
): NextStep | null {
  const schedule = timersFor(incident, matrix);
  const ackEscalationAt = schedule.find((t) => t.kind === 'ack-escalation')?.at ?? null;
  const snoozedUntil = incident.snoozedUntil ?? null;
  let best: { action: TimerAction; at: number } | null = null;
  for (const t of schedule) {
    if (options.kinds && !options.kinds.includes(t.kind)) continue;
    const at = !escalates(t.kind) && snoozedUntil !== null && snoozedUntil > t.at ? snoozedUntil : t.at;
    if (t.kind === 'ack-reminder' && ackEscalationAt !== null && at >= ackEscalationAt) continue;
    if (at <= now) continue;
    if (!best || at < best.at || (at === best.at && compareTimers(t, best.action) < 0))
      best = { action: t, at };
  }
  if (!best) return null;
  const { action, at } = best;
  const page = pagesFor(action.kind, incident.severity, matrix, at);
  return { action, at, page, sentence: nextSentence(action, at, incident, matrix, now, page) };
}

function nextSentence(
  action: TimerAction,
  at: number,
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
  page: boolean,
): string {
  const who = titlesOf(action.levels, matrix);
  const when = formatUtc(at, now);
  const l = matrix.lifecycle;
  let text: string;
  switch (action.kind) {
    case 'ack-reminder':
      text = `reminds ${who} to acknowledge at ${when}`;
      break;
    case 'ack-escalation':
      text = `escalates to ${who} at ${when} unless acknowledged`;
      break;
    case 'escalation':
      text = `escalates to ${who} at ${when}`;
      break;
    case 'maintenance-release':
      text = `pages ${who} at ${when}, when the maintenance window ends`;
      break;
    case 'diagnose-reminder':
      text = `reminds to diagnose at ${when} (target: within ${formatDuration(l.diagnoseMs)})`;
      break;
    case 'mitigate-reminder':
      text = `reminds to mitigate at ${when} (target: within ${formatDuration(l.mitigateMs)})`;
      break;
    case 'resolve-reminder':
      text = `reminds to resolve at ${when} (target: within ${formatDuration(l.resolveMs)})`;
      break;
    case 'postmortem-reminder':
      text = `reminds to link the post-mortem at ${when} (target: within ${formatDuration(l.postmortemMs)} of resolution)`;
      break;
    default:
      return assertNever(action.kind, 'timer kind');
  }
  return heldNote(text, action.kind, incident.severity, matrix, at, page);
}

// ---------------------------------------------------------------------------------------------
// Snooze

export const SNOOZE_REFUSALS = ['resolved', 'not-acknowledged', 'snooze-length'] as const;
export type SnoozeRefusal = (typeof SNOOZE_REFUSALS)[number];

export type SnoozeDecision =
  | { readonly allowed: true; readonly until: number; readonly reason: string }
  | { readonly allowed: false; readonly code: SnoozeRefusal; readonly reason: string };

/**
 * May the incident's reminders be snoozed now, for `durationMs` (default: the configured default)?
 * Only an acknowledged, open incident, between 1 min and the maximum. A new snooze replaces the
 * old one (counted from `now`), so repeated snoozes are each bounded, and each is a visible act.
 */
export function evaluateSnooze(
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
  durationMs: number = matrix.snooze.defaultMs,
): SnoozeDecision {
  if (isSet(incident.resolvedAt))
    return { allowed: false, code: 'resolved', reason: 'it is resolved: there is nothing to snooze' };
  if (!isSet(incident.acknowledgedAt))
    return {
      allowed: false,
      code: 'not-acknowledged',
      reason: 'acknowledge it first: only an acknowledged incident can be snoozed',
    };
  if (!Number.isInteger(durationMs) || durationMs < MINUTE || durationMs > matrix.snooze.maxMs)
    return {
      allowed: false,
      code: 'snooze-length',
      reason: `a snooze lasts between 1 min and ${formatDuration(matrix.snooze.maxMs)}`,
    };
  const until = now + durationMs;
  const next = nextStep({ ...incident, snoozedUntil: until }, matrix, now, {
    kinds: ['escalation', 'maintenance-release'],
  });
  const escalation = next ? `; escalations go on: it still ${next.sentence}` : '; escalations go on';
  return { allowed: true, until, reason: `reminders snoozed until ${formatUtc(until, now)}${escalation}` };
}
