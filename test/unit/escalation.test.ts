/**
 * The runbook's clock (issue 7 acceptance: "unit tests with fake time for the whole matrix: every
 * severity × ack/no-ack × resolve timing"), business days, the maintenance window and the
 * configuration of src/incidents/escalation.ts.
 *
 * Time is fake: every function takes `now`. The matrix tests drive a simulated durable queue (jobs
 * keyed by timer id, each fires once, postponing keeps its id) through an incident's life, the way
 * the BullMQ worker will, and compare what acted with tables written out by hand from the runbook,
 * not derived from the implementation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  announcementDue,
  DEFAULT_ESCALATION_MATRIX,
  dueNow,
  type EscalationIncident,
  type EscalationMatrix,
  escalationMatrixFrom,
  escalationMatrixOverridesSchema,
  evaluateSnooze,
  maintenanceWindowAt,
  nextBusinessDay,
  nextMaintenanceWindow,
  nextStep,
  openingResponse,
  pagesDuringMaintenance,
  parseTimeZone,
  recipientsOf,
  stillValid,
  TIMER_KINDS,
  type TimerAction,
  timersFor,
} from '../../src/incidents/escalation.js';
import { SEVERITIES, type Severity } from '../../src/incidents/runbook.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const M = DEFAULT_ESCALATION_MATRIX;
/** Monday 2025-01-13 10:00 UTC: a business day, no maintenance window within days. */
const T0 = Date.UTC(2025, 0, 13, 10, 0);
/** Tuesday 09:00 UTC, the next business day's start, in minutes after T0. */
const NEXT_BUSINESS_DAY_MIN = 23 * 60;

const at = (minutes: number) => T0 + minutes * MIN;
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// A simulated durable queue

interface Facts {
  readonly severity: Severity;
  readonly openedAt?: number;
  readonly acknowledgedAt?: number | null;
  readonly diagnosedAt?: number | null;
  readonly mitigatedAt?: number | null;
  readonly resolvedAt?: number | null;
  readonly postmortemLinkedAt?: number | null;
  readonly snooze?: { readonly at: number; readonly until: number } | null;
  readonly severityChanges?: readonly { readonly at: number; readonly to: Severity }[];
}

/** The incident as the store would load it at `t`: only facts recorded by then. */
function stateAt(f: Facts, t: number): EscalationIncident {
  const seen = (x: number | null | undefined) => (x !== null && x !== undefined && x <= t ? x : null);
  let severity = f.severity;
  for (const c of f.severityChanges ?? []) if (c.at <= t) severity = c.to;
  return {
    id: 42,
    severity,
    openedAt: f.openedAt ?? T0,
    acknowledgedAt: seen(f.acknowledgedAt),
    diagnosedAt: seen(f.diagnosedAt),
    mitigatedAt: seen(f.mitigatedAt),
    resolvedAt: seen(f.resolvedAt),
    postmortemLinkedAt: seen(f.postmortemLinkedAt),
    snoozedUntil: f.snooze && f.snooze.at <= t ? f.snooze.until : null,
  };
}

interface Run {
  /** "+15 ack-escalation senior-sre PAGE": minutes after opening, kind (#step), levels, paged or not. */
  readonly acted: string[];
  readonly messages: string[];
  readonly dropped: { readonly id: string; readonly code: string; readonly at: number }[];
  readonly ids: string[];
}

/**
 * What the worker does: on opening and on every change of facts, enqueue `timersFor` (an id that
 * exists or has run is not added again); when a job is due, ask `stillValid` and act, postpone
 * (same id) or drop it. Facts recorded at an instant are seen by a job due at that instant.
 */
function simulate(f: Facts, matrix: EscalationMatrix = M, horizon = 4 * 24 * 60): Run {
  const opened = f.openedAt ?? T0;
  const end = opened + horizon * MIN;
  const jobs = new Map<string, { action: TimerAction; due: number }>();
  const done = new Set<string>();
  const acted: string[] = [];
  const messages: string[] = [];
  const dropped: Run['dropped'] = [];
  const ids: string[] = [];
  const changes = [
    opened,
    f.acknowledgedAt,
    f.diagnosedAt,
    f.mitigatedAt,
    f.resolvedAt,
    f.postmortemLinkedAt,
    f.snooze?.at,
    ...(f.severityChanges ?? []).map((c) => c.at),
  ]
    .filter((x): x is number => typeof x === 'number')
    .sort((a, b) => a - b);
  let next = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const job = [...jobs.values()].sort(
      (a, b) => a.due - b.due || TIMER_KINDS.indexOf(a.action.kind) - TIMER_KINDS.indexOf(b.action.kind),
    )[0];
    const change = changes[next];
    if (change !== undefined && (!job || change <= job.due)) {
      for (const action of timersFor(stateAt(f, change), matrix)) {
        if (jobs.has(action.id) || done.has(action.id)) continue;
        jobs.set(action.id, { action, due: Math.max(action.at, change) });
        ids.push(action.id);
      }
      next++;
      continue;
    }
    if (!job || job.due > end) return { acted, messages, dropped, ids };
    const now = job.due;
    const v = stillValid(job.action, stateAt(f, now), matrix, now);
    if (v.decision === 'postpone') {
      if (v.until <= now) throw new Error(`postponed ${job.action.id} to the past`);
      job.due = v.until;
      continue;
    }
    jobs.delete(job.action.id);
    done.add(job.action.id);
    if (v.decision === 'drop') {
      dropped.push({ id: job.action.id, code: v.code, at: (now - opened) / MIN });
      continue;
    }
    const a = v.action;
    const step = a.step === null ? '' : `#${a.step}`;
    acted.push(
      `+${(now - opened) / MIN} ${a.kind}${step} ${a.levels.join('+')} ${v.page ? 'PAGE' : 'slack'}`,
    );
    messages.push(v.message);
  }
  throw new Error('simulation did not settle');
}

const minutesOf = (line: string) => Number(line.slice(1, line.indexOf(' ')));
const byTime = (lines: readonly string[]) =>
  [...lines].sort((a, b) => minutesOf(a) - minutesOf(b) || a.localeCompare(b));

// ---------------------------------------------------------------------------------------------
// The runbook, by hand

/** The escalation matrix and workflow rows, written out from the runbook (minutes after opening). */
const RUNBOOK: Record<
  Severity,
  {
    readonly ackTimers: boolean;
    readonly ackEscalation: string | null;
    readonly steps: readonly (readonly [number, string])[];
    readonly pages: boolean;
    readonly workflow: boolean;
  }
> = {
  'SEV-1': {
    ackTimers: true,
    ackEscalation: 'senior-sre',
    steps: [
      [30, 'senior-sre+dev-lead'],
      [60, 'cto'],
    ],
    pages: true,
    workflow: true,
  },
  'SEV-2': {
    ackTimers: true,
    ackEscalation: 'senior-sre',
    steps: [
      [30, 'senior-sre'],
      [60, 'dev-lead'],
    ],
    pages: true,
    workflow: true,
  },
  'SEV-3': {
    ackTimers: true,
    ackEscalation: null,
    steps: [[NEXT_BUSINESS_DAY_MIN, 'senior-sre']],
    pages: false,
    workflow: true,
  },
  'SEV-4': { ackTimers: false, ackEscalation: null, steps: [], pages: false, workflow: false },
};

/** What must act, given when (minutes after opening) it was acknowledged and resolved. */
function expected(severity: Severity, ack: number | null, resolve: number | null): string[] {
  const r = RUNBOOK[severity];
  const open = (t: number) => resolve === null || t < resolve;
  const unacked = (t: number) => ack === null || t < ack;
  const page = r.pages ? 'PAGE' : 'slack';
  const out: string[] = [];
  if (r.ackTimers && open(10) && unacked(10)) out.push('+10 ack-reminder on-call slack');
  if (r.ackEscalation && open(15) && unacked(15)) out.push(`+15 ack-escalation ${r.ackEscalation} ${page}`);
  r.steps.forEach(([t, levels], i) => {
    if (open(t)) out.push(`+${t} escalation#${i + 1} ${levels} ${page}`);
  });
  if (r.workflow) {
    if (open(30)) out.push('+30 diagnose-reminder on-call slack');
    if (open(60)) out.push('+60 mitigate-reminder on-call slack');
    if (open(240)) out.push('+240 resolve-reminder on-call slack');
    if (resolve !== null) out.push(`+${resolve + 48 * 60} postmortem-reminder on-call slack`);
  }
  return byTime(out);
}

// ---------------------------------------------------------------------------------------------

afterEach(() => {
  vi.useRealTimers();
});

describe('defaults are the runbook', () => {
  it('escalation matrix rows, levels and their PagerDuty levels', () => {
    const rows = Object.fromEntries(
      SEVERITIES.map((s) => {
        const p = M.severities[s];
        return [
          s,
          {
            initial: p.initial.join('+'),
            pages: p.pages,
            ack: p.acknowledge,
            ackEscalation: p.ackEscalation.join('+'),
            steps: p.steps.map((st) =>
              st.when.kind === 'after'
                ? `${st.when.ms / MIN} min: ${st.levels.join('+')}`
                : `next business day: ${st.levels.join('+')}`,
            ),
          },
        ];
      }),
    );
    expect(rows).toEqual({
      'SEV-1': {
        initial: 'on-call',
        pages: true,
        ack: true,
        ackEscalation: 'senior-sre',
        steps: ['30 min: senior-sre+dev-lead', '60 min: cto'],
      },
      'SEV-2': {
        initial: 'on-call',
        pages: true,
        ack: true,
        ackEscalation: 'senior-sre',
        steps: ['30 min: senior-sre', '60 min: dev-lead'],
      },
      'SEV-3': {
        initial: 'on-call',
        pages: false,
        ack: true,
        ackEscalation: '',
        steps: ['next business day: senior-sre'],
      },
      'SEV-4': { initial: '', pages: false, ack: false, ackEscalation: '', steps: [] },
    });
    expect(
      Object.fromEntries(Object.entries(M.levels).map(([k, l]) => [k, [l.title, l.pagerDutyLevel]])),
    ).toEqual({
      'on-call': ['On-call engineer', 1],
      'senior-sre': ['Senior SRE', 2],
      'dev-lead': ['Dev Lead', 3],
      cto: ['CTO', 4],
    });
  });

  it('acknowledge 10/15 min, diagnose 30 min, mitigate 1 h, resolve 4 h, post-mortem 48 h, snooze ≤ 2 h', () => {
    expect(M.ack).toEqual({ reminderMs: 10 * MIN, escalationMs: 15 * MIN });
    expect(M.lifecycle).toEqual({
      diagnoseMs: 30 * MIN,
      mitigateMs: 60 * MIN,
      resolveMs: 240 * MIN,
      postmortemMs: 48 * HOUR,
    });
    expect(M.snooze).toEqual({ defaultMs: 30 * MIN, maxMs: 2 * HOUR });
    expect(M.businessHours).toEqual({
      timeZone: { kind: 'offset', minutes: 0, label: 'UTC' },
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
      startMinute: 9 * 60,
    });
    expect(M.maintenance).toEqual({
      enabled: true,
      weekday: 'sun',
      ordinal: 2,
      startMinute: 2 * 60,
      durationMs: 2 * HOUR,
      announceMs: 48 * HOUR,
      pagingSeverities: ['SEV-1'],
    });
  });

  it('escalationMatrixFrom() with no overrides is the defaults', () => {
    expect(escalationMatrixFrom()).toEqual(M);
    expect(escalationMatrixFrom(escalationMatrixOverridesSchema.parse({}))).toEqual(M);
  });
});

describe('the whole matrix: every severity × acknowledgement × resolution timing', () => {
  // Acknowledged: never, before the reminder, between reminder and escalation, after the escalation.
  const ACKS = [null, 5, 12, 20] as const;
  // Resolved: never, before the reminder, between the acknowledge escalation and the first step,
  // between the steps, after the last minute-step, after the resolve mark, after SEV-3's next-day step.
  const RESOLVES = [null, 8, 20, 45, 90, 300, 1500] as const;
  const cases = SEVERITIES.flatMap((severity) =>
    RESOLVES.flatMap((resolve) =>
      ACKS.filter((ack) => ack === null || resolve === null || ack < resolve).map((ack) => ({
        severity,
        ack,
        resolve,
      })),
    ),
  );

  it('covers 25 timings per severity', () => {
    expect(cases).toHaveLength(100);
  });

  it.each(cases)(
    '$severity, acknowledged at $ack min, resolved at $resolve min',
    ({ severity, ack, resolve }) => {
      const run = simulate({
        severity,
        acknowledgedAt: ack === null ? null : at(ack),
        resolvedAt: resolve === null ? null : at(resolve),
      });
      expect(byTime(run.acted)).toEqual(expected(severity, ack, resolve));
      // Each timer acts at most once, and every id is a valid BullMQ custom id.
      expect(new Set(run.ids).size).toBe(run.ids.length);
      for (const id of run.ids) expect(id).toMatch(/^timer-42-\d+-[a-z0-9-]+$/);
    },
  );
});

describe('timelines, literally', () => {
  it('SEV-1 nobody acknowledges, nobody resolves: the runbook in order, with the thread sentences', () => {
    const run = simulate({ severity: 'SEV-1' }, M, 300);
    expect(run.acted).toEqual([
      '+10 ack-reminder on-call slack',
      '+15 ack-escalation senior-sre PAGE',
      '+30 escalation#1 senior-sre+dev-lead PAGE',
      '+30 diagnose-reminder on-call slack',
      '+60 escalation#2 cto PAGE',
      '+60 mitigate-reminder on-call slack',
      '+240 resolve-reminder on-call slack',
    ]);
    expect(run.messages).toEqual([
      'Not acknowledged 10 min after it opened: On-call engineer, please acknowledge (target: within 15 min)',
      'Not acknowledged within 15 min: escalating to Senior SRE',
      'Not resolved 30 min after it opened: escalating to Senior SRE + Dev Lead (escalation matrix, SEV-1 step 1)',
      'No diagnosis recorded within 30 min of opening (target): On-call engineer, please diagnose',
      'Not resolved 1 h after it opened: escalating to CTO (escalation matrix, SEV-1 step 2)',
      'Not mitigated within 1 h of opening (target): On-call engineer, please mitigate',
      'Not resolved within 4 h of opening (target): On-call engineer, please resolve or say why not',
    ]);
  });

  it('SEV-2 acknowledged at 12 min, diagnosed at 25, mitigated at 40, resolved at 50, post-mortem linked at 24 h', () => {
    const run = simulate({
      severity: 'SEV-2',
      acknowledgedAt: at(12),
      diagnosedAt: at(25),
      mitigatedAt: at(40),
      resolvedAt: at(50),
      postmortemLinkedAt: at(50 + 24 * 60),
    });
    expect(run.acted).toEqual(['+10 ack-reminder on-call slack', '+30 escalation#1 senior-sre PAGE']);
    expect(run.dropped.map((d) => `${d.code}@${d.at}`)).toEqual([
      'acknowledged@15',
      'diagnosed@30',
      'resolved@60',
      'resolved@60',
      'resolved@240',
      'postmortem-linked@2930',
    ]);
  });

  it('acknowledging does not stop the matrix; resolving does, and schedules the post-mortem reminder', () => {
    const run = simulate({ severity: 'SEV-1', acknowledgedAt: at(1), resolvedAt: at(45) });
    expect(run.acted).toEqual([
      '+30 escalation#1 senior-sre+dev-lead PAGE',
      '+30 diagnose-reminder on-call slack',
      '+2925 postmortem-reminder on-call slack',
    ]);
    expect(run.messages.at(-1)).toBe(
      'No post-mortem linked within 48 h of the resolution (target): On-call engineer, please write it and record its link',
    );
    // Timers queued at opening fire and are dropped, not acted on, once their condition is gone.
    expect(run.dropped.map((d) => `${d.code}@${d.at}`)).toEqual([
      'acknowledged@10',
      'acknowledged@15',
      'resolved@60',
      'resolved@60',
      'resolved@240',
    ]);
  });

  it('SEV-3 on Friday evening: reminders that evening, the Senior SRE on Monday 09:00 in Slack only', () => {
    const friday = Date.UTC(2025, 0, 17, 18, 30);
    const schedule = timersFor({ id: 7, severity: 'SEV-3', openedAt: friday }, M);
    expect(schedule.map((t) => `${iso(t.at)} ${t.kind} ${t.levels.join('+')}`)).toEqual([
      '2025-01-17T18:40:00.000Z ack-reminder on-call',
      '2025-01-17T19:00:00.000Z diagnose-reminder on-call',
      '2025-01-17T19:30:00.000Z mitigate-reminder on-call',
      '2025-01-17T22:30:00.000Z resolve-reminder on-call',
      '2025-01-20T09:00:00.000Z escalation senior-sre',
    ]);
    const run = simulate({ severity: 'SEV-3', openedAt: friday, acknowledgedAt: friday + 5 * MIN });
    expect(run.acted.at(-1)).toBe(
      `+${(Date.UTC(2025, 0, 20, 9) - friday) / MIN} escalation#1 senior-sre slack`,
    );
    expect(run.messages.at(-1)).toBe(
      'Not resolved by the next business day: escalating to Senior SRE (escalation matrix, SEV-3 step 1)',
    );
  });

  it('SEV-4 is a ticket: no timers, no next step, nobody paged', () => {
    const sev4 = { id: 1, severity: 'SEV-4' as const, openedAt: T0 };
    expect(timersFor(sev4, M)).toEqual([]);
    expect(timersFor({ ...sev4, resolvedAt: at(10) }, M)).toEqual([]);
    expect(nextStep(sev4, M, T0)).toBeNull();
    expect(openingResponse('SEV-4', M, T0)).toEqual({ levels: [], page: false, heldUntil: null });
  });
});

describe('stillValid: whether a fired timer acts', () => {
  const sev1: EscalationIncident = { id: 42, severity: 'SEV-1', openedAt: T0 };
  const timer = (kind: string, incident: EscalationIncident = sev1) => {
    const t = timersFor(incident, M).find((x) => x.kind === kind);
    if (!t) throw new Error(`no ${kind}`);
    return t;
  };

  it('an acknowledgement recorded at the very instant the escalation fires stops it', () => {
    const esc = timer('ack-escalation');
    const v = stillValid(esc, { ...sev1, acknowledgedAt: at(15) }, M, at(15));
    expect(v).toMatchObject({ decision: 'drop', code: 'acknowledged' });
    expect(stillValid(esc, sev1, M, at(15))).toMatchObject({
      decision: 'act',
      page: true,
      pagerDutyLevel: 2,
    });
  });

  it('a recorded fact counts even if its time is after the firing (clock skew between replicas)', () => {
    expect(
      stillValid(timer('ack-escalation'), { ...sev1, acknowledgedAt: at(15) + 800 }, M, at(15)),
    ).toMatchObject({
      decision: 'drop',
      code: 'acknowledged',
    });
  });

  it('a job that fires early is postponed to its time; one the bot ran late still acts', () => {
    expect(stillValid(timer('escalation'), sev1, M, at(29))).toEqual({
      decision: 'postpone',
      code: 'early',
      until: at(30),
      reason: 'due at 10:30 UTC',
    });
    expect(stillValid(timer('escalation'), sev1, M, at(44))).toMatchObject({ decision: 'act' });
  });

  it('a reminder run after the acknowledge escalation is due is superseded by it', () => {
    const reminder = timer('ack-reminder');
    expect(stillValid(reminder, sev1, M, at(14))).toMatchObject({ decision: 'act' });
    expect(stillValid(reminder, sev1, M, at(15))).toMatchObject({ decision: 'drop', code: 'superseded' });
    // SEV-3 has no acknowledge escalation: a late reminder is still worth sending.
    const sev3 = { ...sev1, severity: 'SEV-3' as const };
    expect(stillValid(timer('ack-reminder', sev3), sev3, M, at(40))).toMatchObject({ decision: 'act' });
  });

  it('diagnosed, mitigated and post-mortem-linked cancel their reminders only', () => {
    const done = { ...sev1, diagnosedAt: at(20), mitigatedAt: at(25) };
    expect(stillValid(timer('diagnose-reminder'), done, M, at(30))).toMatchObject({ code: 'diagnosed' });
    expect(stillValid(timer('mitigate-reminder'), done, M, at(60))).toMatchObject({ code: 'mitigated' });
    expect(stillValid(timer('resolve-reminder'), done, M, at(240))).toMatchObject({ decision: 'act' });
    expect(stillValid(timer('escalation'), done, M, at(30))).toMatchObject({ decision: 'act' });
    const resolved = { ...sev1, resolvedAt: at(100) };
    const pm = timer('postmortem-reminder', resolved);
    expect(pm.at).toBe(at(100) + 48 * HOUR);
    expect(stillValid(pm, { ...resolved, postmortemLinkedAt: at(500) }, M, pm.at)).toMatchObject({
      code: 'postmortem-linked',
    });
    expect(stillValid(pm, resolved, M, pm.at)).toMatchObject({ decision: 'act', page: false });
  });

  it('a timer of another incident, or of an earlier incident with the same id, is dropped', () => {
    const t = timer('escalation');
    expect(stillValid(t, { ...sev1, id: 43 }, M, at(30))).toMatchObject({ code: 'other-incident' });
    expect(stillValid(t, { ...sev1, openedAt: T0 + 1 }, M, at(30))).toMatchObject({ code: 'other-incident' });
  });

  it('severity raised SEV-3 → SEV-1 at 20 min: the SEV-1 row takes over at once; the SEV-3 step is retired', () => {
    const run = simulate(
      { severity: 'SEV-3', severityChanges: [{ at: at(20), to: 'SEV-1' }] },
      M,
      2 * 24 * 60,
    );
    expect(run.acted).toEqual([
      '+10 ack-reminder on-call slack',
      '+20 ack-escalation senior-sre PAGE',
      '+30 escalation#1 senior-sre+dev-lead PAGE',
      '+30 diagnose-reminder on-call slack',
      '+60 escalation#2 cto PAGE',
      '+60 mitigate-reminder on-call slack',
      '+240 resolve-reminder on-call slack',
    ]);
    expect(run.dropped).toEqual([
      { id: `timer-42-${T0}-escalation-sev3-1`, code: 'not-scheduled', at: NEXT_BUSINESS_DAY_MIN },
    ]);
  });

  it('severity lowered SEV-1 → SEV-3 at 20 min: the SEV-1 steps never fire', () => {
    const run = simulate(
      { severity: 'SEV-1', severityChanges: [{ at: at(20), to: 'SEV-3' }] },
      M,
      2 * 24 * 60,
    );
    expect(run.acted).toEqual([
      '+10 ack-reminder on-call slack',
      '+15 ack-escalation senior-sre PAGE',
      '+30 diagnose-reminder on-call slack',
      '+60 mitigate-reminder on-call slack',
      '+240 resolve-reminder on-call slack',
      `+${NEXT_BUSINESS_DAY_MIN} escalation#1 senior-sre slack`,
    ]);
    expect(run.dropped.map((d) => `${d.code}@${d.at}`)).toEqual(['not-scheduled@30', 'not-scheduled@60']);
  });

  it('a configuration change between queueing and firing moves or retires the timer', () => {
    const queued = timer('escalation');
    const later = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({
        severities: { 'SEV-1': { steps: [{ after: 45, levels: ['senior-sre', 'dev-lead'] }] } },
      }),
    );
    expect(stillValid(queued, sev1, later, at(30))).toMatchObject({
      decision: 'postpone',
      code: 'early',
      until: at(45),
    });
    expect(stillValid(timer('escalation', sev1), sev1, later, at(45))).toMatchObject({ decision: 'act' });
    const second = timersFor(sev1, M).find((t) => t.step === 2);
    if (!second) throw new Error('no step 2');
    expect(stillValid(second, sev1, later, at(60))).toMatchObject({
      decision: 'drop',
      code: 'not-scheduled',
    });
  });

  it('acts with the current levels and their Slack and PagerDuty mapping', () => {
    const mapped = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({
        levels: {
          'senior-sre': { slackUsers: ['U0SRE00001'], slackGroups: ['S0SRETEAM'] },
          'dev-lead': { slackUsers: ['U0DEVLEAD1', 'U0SRE00001'], pagerDutyLevel: null },
        },
      }),
    );
    const v = stillValid(timer('escalation'), sev1, mapped, at(30));
    expect(v).toMatchObject({ decision: 'act', page: true, pagerDutyLevel: 2 });
    expect(recipientsOf(['senior-sre', 'dev-lead'], mapped)).toEqual({
      titles: 'Senior SRE + Dev Lead',
      slackUsers: ['U0SRE00001', 'U0DEVLEAD1'],
      slackGroups: ['S0SRETEAM'],
      mentions: ['<@U0SRE00001>', '<@U0DEVLEAD1>', '<!subteam^S0SRETEAM>'],
      pagerDutyLevel: 2,
    });
    expect(recipientsOf(['on-call'], M).mentions).toEqual([]);
  });

  it('dueNow lists what should act at an instant, the late reminder left out', () => {
    const kinds = (now: number) => dueNow(sev1, M, now).map((v) => `${v.action.kind}${v.action.step ?? ''}`);
    expect(kinds(at(9))).toEqual([]);
    expect(kinds(at(10))).toEqual(['ack-reminder']);
    expect(kinds(at(35))).toEqual(['ack-escalation', 'escalation1', 'diagnose-reminder']);
    expect(kinds(at(35)).length).toBe(3);
    expect(dueNow({ ...sev1, acknowledgedAt: at(1) }, M, at(35)).map((v) => v.action.kind)).toEqual([
      'escalation',
      'diagnose-reminder',
    ]);
    expect(dueNow({ ...sev1, resolvedAt: at(20) }, M, at(300))).toEqual([]);
  });

  it('never reads the clock', () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2099, 0, 1));
    expect(simulate({ severity: 'SEV-1' }, M, 300).acted).toHaveLength(7);
    expect(nextStep(sev1, M, T0)?.at).toBe(at(10));
  });
});

describe('ids for durable jobs', () => {
  it('are stable, ":"-free and unique per incident and action', () => {
    const a = { id: 42, severity: 'SEV-1' as const, openedAt: T0 };
    const ids = timersFor(a, M).map((t) => t.id);
    expect(timersFor(a, M).map((t) => t.id)).toEqual(ids);
    expect(ids).toEqual([
      `timer-42-${T0}-ack-reminder`,
      `timer-42-${T0}-ack-escalation`,
      `timer-42-${T0}-escalation-sev1-1`,
      `timer-42-${T0}-diagnose`,
      `timer-42-${T0}-escalation-sev1-2`,
      `timer-42-${T0}-mitigate`,
      `timer-42-${T0}-resolve`,
    ]);
    for (const id of ids) expect(id).not.toContain(':');
    const other = timersFor({ ...a, id: 43 }, M).map((t) => t.id);
    const reset = timersFor({ ...a, openedAt: T0 + 1 }, M).map((t) => t.id);
    expect(new Set([...ids, ...other, ...reset]).size).toBe(ids.length * 3);
    expect(timersFor({ ...a, resolvedAt: at(50) }, M).map((t) => t.id)).toEqual([
      `timer-42-${T0}-postmortem-${at(50)}`,
    ]);
  });

  it('refuses an incident id or opening time that is not an integer', () => {
    expect(() => timersFor({ id: 1.5, severity: 'SEV-1', openedAt: T0 }, M)).toThrow(/integers/);
    expect(() => timersFor({ id: 1, severity: 'SEV-1', openedAt: Number.NaN }, M)).toThrow(/integers/);
  });
});

describe('snooze', () => {
  const acked: EscalationIncident = { id: 42, severity: 'SEV-2', openedAt: T0, acknowledgedAt: at(5) };

  it('is bounded, and only for an acknowledged, open incident', () => {
    expect(evaluateSnooze({ ...acked, acknowledgedAt: null }, M, at(6))).toMatchObject({
      allowed: false,
      code: 'not-acknowledged',
    });
    expect(evaluateSnooze({ ...acked, resolvedAt: at(8) }, M, at(9))).toMatchObject({
      allowed: false,
      code: 'resolved',
    });
    expect(evaluateSnooze(acked, M, at(6), 2 * HOUR + MIN)).toEqual({
      allowed: false,
      code: 'snooze-length',
      reason: 'a snooze lasts between 1 min and 2 h',
    });
    expect(evaluateSnooze(acked, M, at(6), 30_000)).toMatchObject({ allowed: false, code: 'snooze-length' });
    expect(evaluateSnooze(acked, M, at(6), 2 * HOUR)).toMatchObject({ allowed: true, until: at(126) });
    expect(evaluateSnooze(acked, M, at(6))).toEqual({
      allowed: true,
      until: at(36),
      reason:
        'reminders snoozed until 10:36 UTC; escalations go on: it still escalates to Senior SRE at 10:30 UTC',
    });
  });

  it('postpones reminders to its end, never escalations', () => {
    const run = simulate(
      { severity: 'SEV-2', acknowledgedAt: at(5), snooze: { at: at(25), until: at(85) } },
      M,
      300,
    );
    expect(run.acted).toEqual([
      '+30 escalation#1 senior-sre PAGE',
      '+60 escalation#2 dev-lead PAGE',
      '+85 diagnose-reminder on-call slack',
      '+85 mitigate-reminder on-call slack',
      '+240 resolve-reminder on-call slack',
    ]);
  });

  it('a postponed reminder whose condition is met during the snooze is dropped', () => {
    const run = simulate(
      {
        severity: 'SEV-2',
        acknowledgedAt: at(5),
        snooze: { at: at(25), until: at(85) },
        diagnosedAt: at(70),
      },
      M,
      120,
    );
    expect(run.acted).toEqual([
      '+30 escalation#1 senior-sre PAGE',
      '+60 escalation#2 dev-lead PAGE',
      '+85 mitigate-reminder on-call slack',
    ]);
    expect(run.dropped.at(-1)).toEqual({ id: `timer-42-${T0}-diagnose`, code: 'diagnosed', at: 85 });
  });
});

describe('nextStep: the incident message line', () => {
  /** The issue's example: opened at 03:12 UTC. */
  const opened = Date.UTC(2025, 0, 13, 3, 12);
  const sev1: EscalationIncident = { id: 9, severity: 'SEV-1', openedAt: opened };
  const m = (minutes: number) => opened + minutes * MIN;
  const sentence = (i: EscalationIncident, now: number, kinds?: Parameters<typeof nextStep>[3]) =>
    nextStep(i, M, now, kinds)?.sentence ?? null;

  it('walks through the SEV-1 row', () => {
    expect(sentence(sev1, m(0))).toBe('reminds On-call engineer to acknowledge at 03:22 UTC');
    expect(sentence(sev1, m(10))).toBe('escalates to Senior SRE at 03:27 UTC unless acknowledged');
    expect(sentence({ ...sev1, acknowledgedAt: m(3) }, m(3))).toBe(
      'escalates to Senior SRE + Dev Lead at 03:42 UTC',
    );
    expect(sentence({ ...sev1, acknowledgedAt: m(3) }, m(30))).toBe('escalates to CTO at 04:12 UTC');
    expect(sentence({ ...sev1, acknowledgedAt: m(3) }, m(60))).toBe(
      'reminds to resolve at 07:12 UTC (target: within 4 h)',
    );
    expect(sentence({ ...sev1, resolvedAt: m(90) }, m(90))).toBe(
      'reminds to link the post-mortem at 2025-01-15 04:42 UTC (target: within 48 h of resolution)',
    );
    expect(sentence({ ...sev1, resolvedAt: m(90), postmortemLinkedAt: m(100) }, m(100))).toBeNull();
  });

  it('can be narrowed to escalations, and shows reminders moved by a snooze', () => {
    const esc = { kinds: ['ack-escalation', 'escalation', 'maintenance-release'] as const };
    expect(sentence(sev1, m(0), esc)).toBe('escalates to Senior SRE at 03:27 UTC unless acknowledged');
    const snoozed = { ...sev1, acknowledgedAt: m(2), diagnosedAt: m(20), snoozedUntil: m(100) };
    expect(sentence(snoozed, m(65))).toBe('reminds to mitigate at 04:52 UTC (target: within 1 h)');
  });

  it('SEV-3 names the next business day with its date', () => {
    const friday = Date.UTC(2025, 0, 17, 18, 30);
    const sev3 = { id: 3, severity: 'SEV-3' as const, openedAt: friday, acknowledgedAt: friday };
    expect(nextStep(sev3, M, friday + 5 * HOUR)?.sentence).toBe(
      'escalates to Senior SRE at 2025-01-20 09:00 UTC',
    );
  });
});

describe('business days', () => {
  const hours = M.businessHours;
  const cases: [string, string, string][] = [
    ['Friday evening', '2025-01-17T18:30:00Z', '2025-01-20T09:00:00.000Z'],
    ['Friday one minute before midnight', '2025-01-17T23:59:00Z', '2025-01-20T09:00:00.000Z'],
    ['Saturday', '2025-01-18T12:00:00Z', '2025-01-20T09:00:00.000Z'],
    ['Sunday', '2025-01-19T23:00:00Z', '2025-01-20T09:00:00.000Z'],
    [
      'Monday before business hours: the next day, read literally',
      '2025-01-20T03:00:00Z',
      '2025-01-21T09:00:00.000Z',
    ],
    ['Thursday during business hours', '2025-01-16T10:00:00Z', '2025-01-17T09:00:00.000Z'],
    ['New Year’s Eve (a Tuesday)', '2024-12-31T20:00:00Z', '2025-01-01T09:00:00.000Z'],
  ];
  it.each(cases)('%s → the next business day at 09:00 UTC', (_label, from, want) => {
    expect(iso(nextBusinessDay(Date.parse(from), hours))).toBe(want);
  });

  it('in Qatar (Sunday–Thursday, 08:00, UTC+3), by IANA name or by offset', () => {
    for (const zone of ['Asia/Qatar', '+03:00', 'UTC+3']) {
      const tz = parseTimeZone(zone);
      if (!tz) throw new Error(zone);
      const qatar = { timeZone: tz, days: ['sun', 'mon', 'tue', 'wed', 'thu'] as const, startMinute: 8 * 60 };
      // Thursday 20:00 in Doha → Sunday 08:00 in Doha (05:00 UTC).
      expect(iso(nextBusinessDay(Date.parse('2025-01-16T17:00:00Z'), qatar))).toBe(
        '2025-01-19T05:00:00.000Z',
      );
      // Monday 22:30 UTC is already Tuesday 01:30 in Doha: the next business day is Wednesday.
      expect(iso(nextBusinessDay(Date.parse('2025-01-20T22:30:00Z'), qatar))).toBe(
        '2025-01-22T05:00:00.000Z',
      );
    }
  });

  it('across a daylight-saving change (New York, spring forward on Sunday 2025-03-09)', () => {
    const tz = parseTimeZone('America/New_York');
    if (!tz) throw new Error('no zone');
    const ny = { timeZone: tz, days: hours.days, startMinute: 9 * 60 };
    // Friday 18:00 EST (23:00 UTC) → Monday 09:00 EDT (13:00 UTC).
    expect(iso(nextBusinessDay(Date.parse('2025-03-07T23:00:00Z'), ny))).toBe('2025-03-10T13:00:00.000Z');
    // And back (fall back on Sunday 2025-11-02): Friday → Monday 09:00 EST (14:00 UTC).
    expect(iso(nextBusinessDay(Date.parse('2025-10-31T22:00:00Z'), ny))).toBe('2025-11-03T14:00:00.000Z');
  });

  it('a SEV-3 escalation follows the configured business hours', () => {
    const qatar = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({
        businessHours: { timeZone: 'Asia/Qatar', days: ['sun', 'mon', 'tue', 'wed', 'thu'], start: '08:00' },
      }),
    );
    const thursdayEvening = Date.parse('2025-01-16T17:00:00Z');
    const step = timersFor({ id: 5, severity: 'SEV-3', openedAt: thursdayEvening }, qatar).find(
      (t) => t.kind === 'escalation',
    );
    expect(step && iso(step.at)).toBe('2025-01-19T05:00:00.000Z');
  });

  it('parses time zones, and refuses what is none', () => {
    expect(parseTimeZone('UTC')).toEqual({ kind: 'offset', minutes: 0, label: 'UTC' });
    expect(parseTimeZone('+00:00')).toEqual({ kind: 'offset', minutes: 0, label: 'UTC' });
    expect(parseTimeZone('-05:30')).toEqual({ kind: 'offset', minutes: -330, label: 'UTC-05:30' });
    expect(parseTimeZone('asia/qatar')).toEqual({ kind: 'iana', name: 'Asia/Qatar' });
    for (const bad of ['', 'Mars/Olympus', '+15:00', '+03:60', 'UTC+', 'nine'])
      expect(parseTimeZone(bad)).toBeNull();
  });
});

describe('maintenance window: 2nd Sunday of the month, 02:00–04:00 UTC', () => {
  const utc = (s: string) => Date.parse(`${s}Z`);

  it.each([
    ['2025-01', 'the 1st is a Wednesday', '2025-01-12'],
    ['2025-02', 'the 1st is a Saturday', '2025-02-09'],
    ['2025-06', 'the 1st is a Sunday', '2025-06-08'],
    ['2026-02', 'the 1st is a Sunday (February, 28 days)', '2026-02-08'],
    ['2026-03', 'the 1st is a Sunday', '2026-03-08'],
    ['2025-09', 'the 1st is a Monday: the latest possible day', '2025-09-14'],
    ['2025-12', 'the 1st is a Monday', '2025-12-14'],
  ])('%s (%s) → %s', (month, _why, day) => {
    const w = nextMaintenanceWindow(utc(`${month}-01T00:00:00`));
    expect(w && { id: w.id, start: iso(w.start), end: iso(w.end), announceAt: iso(w.announceAt) }).toEqual({
      id: `maintenance-${day}`,
      start: `${day}T02:00:00.000Z`,
      end: `${day}T04:00:00.000Z`,
      announceAt: iso(utc(`${day}T02:00:00`) - 48 * HOUR),
    });
  });

  it('start inclusive, end exclusive', () => {
    expect(maintenanceWindowAt(utc('2025-06-08T01:59:59.999'))).toBeNull();
    expect(maintenanceWindowAt(utc('2025-06-08T02:00:00'))?.id).toBe('maintenance-2025-06-08');
    expect(maintenanceWindowAt(utc('2025-06-08T03:59:59.999'))?.id).toBe('maintenance-2025-06-08');
    expect(maintenanceWindowAt(utc('2025-06-08T04:00:00'))).toBeNull();
    // The 1st Sunday of the month and the 3rd are ordinary Sundays.
    expect(maintenanceWindowAt(utc('2025-06-01T03:00:00'))).toBeNull();
    expect(maintenanceWindowAt(utc('2025-06-15T03:00:00'))).toBeNull();
  });

  it('the next window is the one after now: from inside a window, next month’s; from December, January', () => {
    expect(nextMaintenanceWindow(utc('2025-06-08T01:59:59.999'))?.id).toBe('maintenance-2025-06-08');
    expect(nextMaintenanceWindow(utc('2025-06-08T02:00:00'))?.id).toBe('maintenance-2025-07-13');
    expect(nextMaintenanceWindow(utc('2025-12-14T05:00:00'))?.id).toBe('maintenance-2026-01-11');
  });

  it('is announced 48 h before: due from Friday 02:00 until the window starts', () => {
    const id = (s: string) => announcementDue(utc(s))?.id ?? null;
    expect(id('2025-06-06T01:59:59.999')).toBeNull();
    expect(id('2025-06-06T02:00:00')).toBe('maintenance-2025-06-08');
    expect(id('2025-06-07T12:00:00')).toBe('maintenance-2025-06-08');
    expect(id('2025-06-08T01:59:59.999')).toBe('maintenance-2025-06-08');
    expect(id('2025-06-08T02:00:00')).toBeNull();
  });

  it('an announcement can fall in the month before (configured: the 1st Sunday)', () => {
    const first = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({ maintenance: { ordinal: 1 } }),
    ).maintenance;
    expect(announcementDue(utc('2025-05-30T02:00:00'), first)?.id).toBe('maintenance-2025-06-01');
    expect(maintenanceWindowAt(utc('2025-06-01T02:30:00'), first)?.id).toBe('maintenance-2025-06-01');
  });

  it('inside the window only SEV-1 pages', () => {
    const inside = utc('2025-06-08T03:00:00');
    const outside = utc('2025-06-08T04:00:00');
    expect(SEVERITIES.map((s) => pagesDuringMaintenance(s, inside))).toEqual([true, false, false, false]);
    expect(SEVERITIES.map((s) => pagesDuringMaintenance(s, outside))).toEqual([true, true, true, true]);
    // What pages at all is the matrix's: SEV-3/4 never page.
    expect(SEVERITIES.map((s) => openingResponse(s, M, outside).page)).toEqual([true, true, false, false]);
    expect(openingResponse('SEV-2', M, inside)).toEqual({
      levels: ['on-call'],
      page: false,
      heldUntil: utc('2025-06-08T04:00:00'),
    });
    expect(openingResponse('SEV-1', M, inside)).toEqual({ levels: ['on-call'], page: true, heldUntil: null });
  });

  it('can be disabled', () => {
    const off = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({ maintenance: { enabled: false } }),
    ).maintenance;
    expect(maintenanceWindowAt(utc('2025-06-08T03:00:00'), off)).toBeNull();
    expect(nextMaintenanceWindow(utc('2025-06-08T03:00:00'), off)).toBeNull();
    expect(announcementDue(utc('2025-06-07T03:00:00'), off)).toBeNull();
    expect(pagesDuringMaintenance('SEV-2', utc('2025-06-08T03:00:00'), off)).toBe(true);
  });
});

describe('incidents during a maintenance window', () => {
  const opened = Date.parse('2025-06-08T02:30:00Z');
  const m = (minutes: number) => opened + minutes * MIN;

  it('SEV-2 opened inside: Slack only until 04:00, then one page for everyone held back', () => {
    const run = simulate({ severity: 'SEV-2', openedAt: opened }, M, 120);
    expect(run.acted).toEqual([
      '+10 ack-reminder on-call slack',
      '+15 ack-escalation senior-sre slack',
      '+30 escalation#1 senior-sre slack',
      '+30 diagnose-reminder on-call slack',
      '+60 escalation#2 dev-lead slack',
      '+60 mitigate-reminder on-call slack',
      '+90 maintenance-release on-call+senior-sre+dev-lead PAGE',
    ]);
    expect(run.messages[1]).toBe(
      'Not acknowledged within 15 min: escalating to Senior SRE (Slack only: maintenance window until 04:00 UTC)',
    );
    expect(run.messages[6]).toBe(
      'The maintenance window ended at 04:00 UTC and this is still open: paging On-call engineer + Senior SRE + Dev Lead (paging was held during the window)',
    );
    expect(nextStep({ id: 42, severity: 'SEV-2', openedAt: opened }, M, m(40))?.sentence).toBe(
      'escalates to Dev Lead at 03:30 UTC (Slack only: maintenance window until 04:00 UTC)',
    );
  });

  it('acknowledged during the window: the release pages only the escalation levels', () => {
    const run = simulate({ severity: 'SEV-2', openedAt: opened, acknowledgedAt: m(20) }, M, 120);
    expect(run.acted.at(-1)).toBe('+90 maintenance-release senior-sre+dev-lead PAGE');
  });

  it('resolved during the window: no release', () => {
    const run = simulate({ severity: 'SEV-2', openedAt: opened, resolvedAt: m(80) }, M, 120);
    expect(run.acted.some((l) => l.includes('maintenance-release'))).toBe(false);
    expect(run.dropped).toContainEqual({
      id: `timer-42-${opened}-release-${m(-30)}`,
      code: 'resolved',
      at: 90,
    });
  });

  it('SEV-2 opened before the window: paged at once, its escalations inside are held and released', () => {
    const before = Date.parse('2025-06-08T01:45:00Z');
    const run = simulate({ severity: 'SEV-2', openedAt: before, acknowledgedAt: before + 5 * MIN }, M, 180);
    expect(openingResponse('SEV-2', M, before).page).toBe(true);
    expect(run.acted.filter((l) => !l.includes('reminder'))).toEqual([
      '+30 escalation#1 senior-sre slack',
      '+60 escalation#2 dev-lead slack',
      '+135 maintenance-release senior-sre+dev-lead PAGE',
    ]);
  });

  it('SEV-1 pages through the window as always', () => {
    const run = simulate({ severity: 'SEV-1', openedAt: opened }, M, 120);
    expect(run.acted.filter((l) => !l.includes('reminder'))).toEqual([
      '+15 ack-escalation senior-sre PAGE',
      '+30 escalation#1 senior-sre+dev-lead PAGE',
      '+60 escalation#2 cto PAGE',
    ]);
  });
});

describe('configuration overrides', () => {
  const parse = (o: unknown) => escalationMatrixOverridesSchema.safeParse(o);
  const problems = (o: unknown) => {
    const r = parse(o);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('merge over the defaults: people for levels, a new level, a changed row, timings and hours', () => {
    const m = escalationMatrixFrom(
      escalationMatrixOverridesSchema.parse({
        levels: {
          'on-call': { slackGroups: ['S0ONCALL1'] },
          'senior-sre': { slackUsers: ['U0SRE00001'], pagerDutyLevel: 2 },
          security: { title: 'Security team', slackGroups: ['S0SECURITY'], pagerDutyLevel: 5 },
        },
        severities: {
          'SEV-1': {
            steps: [
              { after: 20, levels: ['senior-sre', 'security'] },
              { after: 40, levels: ['cto'] },
            ],
          },
          'SEV-3': { steps: [{ after: 120, levels: ['senior-sre'] }] },
        },
        ack: { reminderMinutes: 5, escalationMinutes: 10 },
        snooze: { maxMinutes: 60, defaultMinutes: 15 },
        businessHours: { timeZone: '+03:00', start: '08:30' },
        maintenance: {
          weekday: 'sat',
          ordinal: 1,
          start: '22:00',
          durationMinutes: 180,
          pagingSeverities: ['SEV-1', 'SEV-2'],
        },
      }),
    );
    expect(m.levels.security).toEqual({
      title: 'Security team',
      slackUsers: [],
      slackGroups: ['S0SECURITY'],
      pagerDutyLevel: 5,
    });
    expect(m.levels['on-call']).toEqual({ ...M.levels['on-call'], slackGroups: ['S0ONCALL1'] });
    expect(m.severities['SEV-2']).toBe(M.severities['SEV-2']);
    expect(m.severities['SEV-1'].ackEscalation).toEqual(['senior-sre']);
    expect(
      timersFor({ id: 1, severity: 'SEV-1', openedAt: T0 }, m)
        .filter(
          (t) =>
            t.kind !== 'diagnose-reminder' && t.kind !== 'mitigate-reminder' && t.kind !== 'resolve-reminder',
        )
        .map((t) => `+${(t.at - T0) / MIN} ${t.kind} ${t.levels.join('+')}`),
    ).toEqual([
      '+5 ack-reminder on-call',
      '+10 ack-escalation senior-sre',
      '+20 escalation senior-sre+security',
      '+40 escalation cto',
    ]);
    expect(nextStep({ id: 1, severity: 'SEV-1', openedAt: T0 }, m, at(11))?.sentence).toBe(
      'escalates to Senior SRE + Security team at 10:20 UTC',
    );
    expect(m.businessHours).toEqual({
      timeZone: { kind: 'offset', minutes: 180, label: 'UTC+03:00' },
      days: M.businessHours.days,
      startMinute: 8 * 60 + 30,
    });
    // 1st Saturday of June 2025 is the 7th; 22:00 for 3 h runs past midnight.
    expect(maintenanceWindowAt(Date.parse('2025-06-08T00:30:00Z'), m.maintenance)?.id).toBe(
      'maintenance-2025-06-07',
    );
    expect(pagesDuringMaintenance('SEV-2', Date.parse('2025-06-08T00:30:00Z'), m.maintenance)).toBe(true);
    expect(m.snooze).toEqual({ defaultMs: 15 * MIN, maxMs: 60 * MIN });
  });

  it('name the exact key and say what is wrong', () => {
    expect(
      problems({ severities: { 'SEV-1': { steps: [{ after: 30, levels: ['senior-sre', 'ctoo'] }] } } }),
    ).toEqual([
      'severities.SEV-1.steps.0.levels.1: unknown level "ctoo" (levels: on-call, senior-sre, dev-lead, cto)',
    ]);
    expect(problems({ severities: { 'SEV-2': { initial: ['on-call', 'on-call'] } } })).toEqual([
      'severities.SEV-2.initial.1: "on-call" is named twice',
    ]);
    expect(
      problems({
        severities: {
          'SEV-2': {
            steps: [
              { after: 60, levels: ['senior-sre'] },
              { after: 30, levels: ['dev-lead'] },
            ],
          },
        },
      }),
    ).toEqual(['severities.SEV-2.steps.1.after: must be later than the step before it']);
    expect(
      problems({ severities: { 'SEV-1': { steps: [{ after: 'tomorrow', levels: ['cto'] }] } } }),
    ).toEqual(['severities.SEV-1.steps.0.after: minutes after opening (1–10080) or "next-business-day"']);
    expect(problems({ severities: { 'SEV-1': { steps: [{ after: 30, levels: [] }] } } })).toEqual([
      'severities.SEV-1.steps.0.levels: a step escalates to at least one level',
    ]);
    expect(problems({ severities: { 'SEV-2': { initial: [] } } })).toEqual([
      'severities.SEV-2.initial: is empty, but SEV-2 pages, runs timers or escalates: someone must be told first',
    ]);
    expect(problems({ severities: { 'SEV-4': { ackEscalation: ['senior-sre'] } } })).toEqual([
      'severities.SEV-4.ackEscalation: has no effect while acknowledge is false',
    ]);
    expect(problems({ severities: { 'SEV-5': {} } })).toEqual(['severities: Unrecognized key: "SEV-5"']);
    expect(problems({ levels: { 'Senior SRE': {} } })).toEqual([
      'levels.Senior SRE: a level name is lower-case letters, digits and "-" (e.g. senior-sre)',
    ]);
    expect(problems({ levels: { cto: { slackUsers: ['cto@example.org'] } } })).toEqual([
      'levels.cto.slackUsers.0: must be a Slack user id (U…)',
    ]);
    expect(problems({ levels: { cto: { slackGroups: ['qnwis-oncall'] } } })).toEqual([
      'levels.cto.slackGroups.0: must be a Slack user group id (S…); a handle cannot be mentioned',
    ]);
    expect(problems({ levels: { cto: { title: '<!channel>' } } })[0]).toMatch(
      /^levels\.cto\.title: one plain line/,
    );
    expect(problems({ levels: { cto: { pagerDutyLevel: 0 } } })[0]).toMatch(/^levels\.cto\.pagerDutyLevel/);
  });

  it('keep timings in order', () => {
    expect(problems({ ack: { reminderMinutes: 15 } })).toEqual([
      'ack.reminderMinutes: the reminder (15 min) must come before the escalation (15 min)',
    ]);
    expect(problems({ ack: { escalationMinutes: 5 } })).toEqual([
      'ack.escalationMinutes: the reminder (10 min) must come before the escalation (5 min)',
    ]);
    expect(problems({ lifecycle: { mitigateMinutes: 20 } })).toEqual([
      'lifecycle: marks must not go backwards: diagnose 30 min ≤ mitigate 20 min ≤ resolve 4 h',
    ]);
    expect(problems({ snooze: { defaultMinutes: 180 } })).toEqual([
      'snooze.defaultMinutes: cannot exceed the maximum (2 h)',
    ]);
    expect(problems({ snooze: { maxMinutes: 24 * 60 + 1 } })[0]).toMatch(/^snooze\.maxMinutes/);
    expect(problems({ ack: { reminderMinutes: 0 } })[0]).toMatch(/^ack\.reminderMinutes/);
  });

  it('business hours and the maintenance window', () => {
    expect(problems({ businessHours: { timeZone: 'Mars/Olympus' } })).toEqual([
      'businessHours.timeZone: unknown time zone "Mars/Olympus": use UTC, an offset (+03:00) or an IANA name (Asia/Qatar)',
    ]);
    expect(problems({ businessHours: { days: [] } })).toEqual([
      'businessHours.days: name at least one business day',
    ]);
    expect(problems({ businessHours: { days: ['mon', 'mon'] } })).toEqual([
      'businessHours.days: names a day twice',
    ]);
    expect(problems({ businessHours: { days: ['monday'] } })).toEqual([
      'businessHours.days.0: must be one of sun, mon, tue, wed, thu, fri, sat',
    ]);
    expect(problems({ businessHours: { start: '9:00' } })).toEqual([
      'businessHours.start: must be HH:MM, 24-hour (e.g. 09:00)',
    ]);
    expect(problems({ maintenance: { pagingSeverities: ['SEV-2'] } })).toEqual([
      'maintenance.pagingSeverities: must include SEV-1: a complete outage pages, maintenance or not',
    ]);
    expect(problems({ maintenance: { ordinal: 5 } })[0]).toMatch(/^maintenance\.ordinal/);
  });

  it('refuse unknown keys', () => {
    expect(problems({ escalations: {} })[0]).toMatch(/escalations/);
    expect(problems({ ack: { reminder: 10 } })[0]).toMatch(/^ack: .*reminder/);
  });
});

describe('a shortened clock (labs and drills)', () => {
  it('accepts fractions of a minute down to 3 s and says them in seconds', () => {
    const parsed = escalationMatrixOverridesSchema.parse({
      ack: { reminderMinutes: 0.05, escalationMinutes: 0.1 },
    });
    const m = escalationMatrixFrom(parsed);
    expect(m.ack).toEqual({ reminderMs: 3_000, escalationMs: 6_000 });
    const [reminder] = timersFor({ id: 9, severity: 'SEV-1', openedAt: 1_000_000 }, m);
    expect(reminder?.at).toBe(1_003_000);
    const v = stillValid(
      reminder as TimerAction,
      { id: 9, severity: 'SEV-1', openedAt: 1_000_000 },
      m,
      1_003_000,
    );
    expect(v.decision === 'act' && v.message).toMatch(/^Not acknowledged 3 s after it opened/);
  });

  it('refuses less than 3 s', () => {
    expect(escalationMatrixOverridesSchema.safeParse({ ack: { reminderMinutes: 0.01 } }).success).toBe(false);
  });
});
