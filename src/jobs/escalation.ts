/**
 * The runbook's clock, durable (issue 7). Every change to an incident enqueues an `incident-clock`
 * job; it asks the pure clock (`timersFor`) which timers the incident needs now and keeps the
 * `escalations` queue in step: each timer is a delayed job whose id is the timer's id, so adding it
 * again (another change, another replica, a restart, the periodic re-check) is a no-op, and a timer
 * the incident no longer needs (acknowledged, resolved, severity changed) is removed.
 *
 * When a timer's job runs, `stillValid` decides on the incident as it is then: act, postpone (the
 * job goes back to the delayed set with the same id: a snooze, or a clock change) or drop. Acting
 * takes the timer in Postgres together with the timeline event that tells the thread, so a timer
 * acts once whatever the queue does; a page is a separate job on the PagerDuty queue (retried on
 * its own, never twice: its id is derived from the timer's).
 */
import { DelayedError, type Job, type Queue } from 'bullmq';
import { z } from 'zod';
import {
  type EscalationIncident,
  type EscalationMatrix,
  escalates,
  recipientsOf,
  stillValid,
  TIMER_KINDS,
  type TimerAction,
  timersFor,
} from '../incidents/escalation.js';
import { SEVERITIES } from '../incidents/runbook.js';
import type { Logger } from '../observability/logger.js';
import { escalationsTotal, escalationTimersTotal } from '../observability/metrics.js';
import { clockOf, type IncidentStore } from '../store/incidents.js';
import { enqueueIncidentSync, type Queues } from './queues.js';

const timerSchema = z.object({
  id: z.string().min(1).max(200),
  incidentId: z.number().int().positive(),
  kind: z.enum(TIMER_KINDS),
  at: z.number().int(),
  levels: z.array(z.string()),
  step: z.number().int().nullable(),
});

export const escalationJobs = {
  'clock-sweep': z.object({}),
  'incident-clock': z.object({ incidentId: z.number().int().positive() }),
  timer: z.object({ timer: timerSchema }),
} as const;

/** Ids of every timer the incident could have had, in any state and severity (to find stale ones). */
function everyPossibleTimerId(incident: EscalationIncident, matrix: EscalationMatrix): Set<string> {
  const ids = new Set<string>();
  for (const severity of SEVERITIES) {
    const bare = {
      ...incident,
      severity,
      acknowledgedAt: null,
      diagnosedAt: null,
      mitigatedAt: null,
      resolvedAt: null,
      snoozedUntil: null,
      postmortemLinkedAt: null,
    };
    for (const t of timersFor(bare, matrix)) ids.add(t.id);
    // The post-mortem reminder's id carries the resolution's instant.
    if (incident.resolvedAt !== null && incident.resolvedAt !== undefined)
      for (const t of timersFor({ ...incident, severity, postmortemLinkedAt: null }, matrix)) ids.add(t.id);
  }
  return ids;
}

/** One sweep per period across replicas (upsert is idempotent). */
export async function scheduleClockSweep(queues: Queues, everyMs: number): Promise<void> {
  await queues.escalations.upsertJobScheduler(
    'clock-sweep',
    { every: everyMs },
    { name: 'clock-sweep', data: {} },
  );
}

export interface ClockResult {
  scheduled: TimerAction[];
  removed: string[];
}

/**
 * Brings the queue in step with the incident's clock: adds the timers it needs (idempotent by job
 * id) and removes delayed timers it no longer needs.
 */
export async function syncIncidentClock(
  queue: Queue,
  incident: EscalationIncident,
  matrix: EscalationMatrix,
  now: number,
): Promise<ClockResult> {
  const wanted = timersFor(incident, matrix);
  const wantedIds = new Set(wanted.map((t) => t.id));
  for (const timer of wanted) {
    await queue.add(
      'timer',
      { timer },
      {
        jobId: timer.id,
        delay: Math.max(0, timer.at - now),
        // Pages before reminders when many are due at once (after an outage).
        priority: TIMER_KINDS.indexOf(timer.kind) + 1,
      },
    );
  }
  const removed: string[] = [];
  for (const id of everyPossibleTimerId(incident, matrix)) {
    if (wantedIds.has(id)) continue;
    const job = await queue.getJob(id);
    // Only a timer still waiting: one running decides for itself with `stillValid`, and a finished
    // one keeps its id so that it is never added again.
    if (job && (await job.isDelayed())) {
      await job.remove().catch(() => undefined);
      removed.push(id);
    }
  }
  return { scheduled: wanted, removed };
}

export interface EscalationDeps {
  store: IncidentStore;
  queues: Queues;
  matrix: EscalationMatrix;
  log: Logger;
  /** Whether PagerDuty escalations can be sent (REST configured); else Slack only. */
  pagerDuty: boolean;
  now?: () => number;
}

export async function enqueuePagerDutyEscalation(
  queues: Queues,
  job: { incidentId: number; level: number; jobId: string; asEmail?: string | null; asName?: string | null },
): Promise<void> {
  await queues.pagerduty.add(
    'incident-escalate',
    {
      incidentId: job.incidentId,
      level: job.level,
      ...(job.asEmail ? { asEmail: job.asEmail } : {}),
      ...(job.asName ? { asName: job.asName } : {}),
    },
    { jobId: job.jobId, priority: 1 },
  );
}

export function createEscalationProcessor(deps: EscalationDeps) {
  const now = deps.now ?? (() => Date.now());
  return async function process(job: Job, token?: string): Promise<unknown> {
    if (job.name === 'clock-sweep') {
      // A safety net for timers lost with Redis (a flush, a failover without persistence): every
      // incident on the clock is synced again; its ids make that harmless.
      const rows = await deps.store.incidentsOnTheClock(
        Math.ceil(deps.matrix.lifecycle.postmortemMs / 86_400_000) + 1,
      );
      for (const row of rows)
        await syncIncidentClock(deps.queues.escalations, clockOf(row), deps.matrix, now());
      return { incidents: rows.length };
    }
    if (job.name === 'incident-clock') {
      const { incidentId } = escalationJobs['incident-clock'].parse(job.data);
      const row = await deps.store.get(incidentId);
      if (!row) return { missing: incidentId };
      const result = await syncIncidentClock(deps.queues.escalations, clockOf(row), deps.matrix, now());
      return { scheduled: result.scheduled.length, removed: result.removed.length };
    }
    const { timer } = escalationJobs.timer.parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId: timer.incidentId, timer: timer.kind });
    const row = await deps.store.get(timer.incidentId);
    if (!row) {
      escalationTimersTotal.inc({ kind: timer.kind, outcome: 'dropped' });
      return { dropped: 'other-incident' };
    }
    const verdict = stillValid(timer, clockOf(row), deps.matrix, now());
    if (verdict.decision === 'postpone') {
      log.debug({ until: verdict.until, reason: verdict.reason }, 'timer postponed');
      await job.moveToDelayed(verdict.until, token);
      throw new DelayedError();
    }
    if (verdict.decision === 'drop') {
      escalationTimersTotal.inc({ kind: timer.kind, outcome: 'dropped' });
      log.debug({ code: verdict.code, reason: verdict.reason }, 'timer no longer applies');
      return { dropped: verdict.code };
    }
    const { action } = verdict;
    const recipients = recipientsOf(action.levels, deps.matrix);
    const page = verdict.page && deps.pagerDuty && verdict.pagerDutyLevel !== null;
    const claimed = await deps.store.claimTimer(
      row.id,
      {
        timerId: action.id,
        kind: action.kind,
        paged: page,
        pagerDutyLevel: page ? verdict.pagerDutyLevel : null,
      },
      {
        kind: 'escalation_timer',
        timer: action.kind,
        levels: action.levels,
        titles: recipients.titles,
        mentions: recipients.mentions,
        message: verdict.message,
        page,
        pagerDutyLevel: page ? verdict.pagerDutyLevel : null,
        step: action.step,
      },
    );
    if (!claimed) {
      escalationTimersTotal.inc({ kind: action.kind, outcome: 'duplicate' });
      return { duplicate: action.id };
    }
    escalationTimersTotal.inc({ kind: action.kind, outcome: 'acted' });
    if (escalates(action.kind))
      escalationsTotal.inc({ kind: action.kind, outcome: page ? 'paged' : 'slack_only' });
    log.info({ levels: action.levels, page }, verdict.message);
    await enqueueIncidentSync(deps.queues, row.id, row.severity);
    if (page && verdict.pagerDutyLevel !== null) {
      await enqueuePagerDutyEscalation(deps.queues, {
        incidentId: row.id,
        level: verdict.pagerDutyLevel,
        jobId: `pd-${action.id}`,
      });
    }
    return { acted: action.id, page };
  };
}
