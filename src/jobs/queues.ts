/**
 * The job catalog (STYLE.md §4): every queue, its job names and their data schemas in one place.
 * Workers parse `job.data` with these schemas before touching it.
 */
import { Queue, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Severity } from '../incidents/runbook.js';

export const QUEUE_NAMES = {
  slack: 'slack',
  pagerduty: 'pagerduty',
  diagnose: 'diagnose',
  commands: 'commands',
  escalations: 'escalations',
  duties: 'duties',
} as const;

export const slackJobs = {
  'incident-sync': z.object({ incidentId: z.number().int().positive() }),
  'digest-sync': z.object({ digestId: z.number().int().positive() }),
} as const;

export const pagerdutyJobs = {
  /** `release`: page even inside a maintenance window (the window ended and it is still open). */
  'incident-event': z.object({ incidentId: z.number().int().positive(), release: z.boolean().optional() }),
  /** Escalate the PagerDuty incident to `level` (the bot's clock, or a person via `asEmail`). */
  'incident-escalate': z.object({
    incidentId: z.number().int().positive(),
    level: z.number().int().min(1).max(20),
    asEmail: z.string().optional(),
    asName: z.string().optional(),
  }),
} as const;

export const diagnoseJobs = {
  'incident-playbook': z.object({ incidentId: z.number().int().positive() }),
  'incident-chart': z.object({ incidentId: z.number().int().positive() }),
  /** The post-mortem draft into the thread (src/jobs/postmortem.ts), once per resolution. */
  'incident-postmortem': z.object({ incidentId: z.number().int().positive() }),
} as const;

/** The on-call's scheduled duties and the dead-man switch (src/jobs/duties.ts, src/jobs/watchdog.ts). */
export const dutiesJobs = {
  'backup-check': z.object({}),
  'slo-digest': z.object({}),
  'error-log-review': z.object({}),
  'maintenance-check': z.object({}),
  'watchdog-check': z.object({}),
} as const;
export type DutyJobName = keyof typeof dutiesJobs;

export type SlackJobName = keyof typeof slackJobs;
export type PagerDutyJobName = keyof typeof pagerdutyJobs;

/** BullMQ priority: lower runs first. A SEV-1 jumps every storm queue. */
export function priorityOf(severity: Severity): number {
  return { 'SEV-1': 1, 'SEV-2': 2, 'SEV-3': 3, 'SEV-4': 4 }[severity];
}

export interface Queues {
  slack: Queue;
  pagerduty: Queue;
  diagnose: Queue;
  /** Approved command requests (src/approvals/run.ts) and the request sweep. */
  commands: Queue;
  /** The runbook's clock: per-incident timers and clock syncs (src/jobs/escalation.ts). */
  escalations: Queue;
  /** Scheduled duties and the dead-man switch: job schedulers, one run per slot across replicas. */
  duties: Queue;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): Queues {
  const opts: QueueOptions = {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 25,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  };
  const slack = new Queue(QUEUE_NAMES.slack, opts);
  const pagerduty = new Queue(QUEUE_NAMES.pagerduty, opts);
  // Diagnostics are read-only but not worth many retries: a host that is down is a result.
  const diagnose = new Queue(QUEUE_NAMES.diagnose, {
    ...opts,
    defaultJobOptions: { ...opts.defaultJobOptions, attempts: 3 },
  });
  // A command runs at most once per job: its own claim in Postgres decides what a re-delivered
  // (stalled) job may do, and a failure is reported in Slack, never retried blindly.
  const commands = new Queue(QUEUE_NAMES.commands, {
    ...opts,
    defaultJobOptions: {
      attempts: 1,
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  });
  // A timer's finished job keeps its id for a while, so re-adding it is a no-op; the bot's own
  // record of fired timers (escalation_timers_fired) is what makes it act once for good.
  const escalations = new Queue(QUEUE_NAMES.escalations, {
    ...opts,
    defaultJobOptions: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 14 * 24 * 3600, count: 100_000 },
      removeOnFail: { age: 14 * 24 * 3600 },
    },
  });
  // A duty's failure is retried a little (a host or Prometheus blinking), then reported.
  const duties = new Queue(QUEUE_NAMES.duties, {
    ...opts,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 10_000 },
      removeOnComplete: { age: 24 * 3600, count: 2000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  return {
    slack,
    pagerduty,
    diagnose,
    commands,
    escalations,
    duties,
    async close() {
      await Promise.all([
        slack.close(),
        pagerduty.close(),
        diagnose.close(),
        commands.close(),
        escalations.close(),
        duties.close(),
      ]);
    },
  };
}

export async function enqueueIncidentSync(
  queues: Queues,
  incidentId: number,
  severity: Severity,
): Promise<void> {
  await queues.slack.add('incident-sync', { incidentId }, { priority: priorityOf(severity) });
  // Every change may start, move or stop the incident's timers.
  await queues.escalations.add('incident-clock', { incidentId }, { priority: priorityOf(severity) });
}

export async function enqueueDigestSync(queues: Queues, digestId: number): Promise<void> {
  // Throttled: during a storm many incidents join one digest; one re-render a second is plenty,
  // and the job renders the digest as it is when it runs.
  await queues.slack.add(
    'digest-sync',
    { digestId },
    { delay: 1000, priority: 3, deduplication: { id: `digest-${digestId}`, ttl: 900 } },
  );
}

export async function enqueuePagerDuty(
  queues: Queues,
  incidentId: number,
  delayMs = 0,
  opts: { release?: boolean } = {},
): Promise<void> {
  await queues.pagerduty.add(
    'incident-event',
    { incidentId, ...(opts.release ? { release: true } : {}) },
    { delay: delayMs },
  );
}

/**
 * One playbook (and one chart) per incident: the job id makes a re-delivered webhook harmless. It
 * carries the incident's creation instant too, because completed jobs outlive a reset of the bot's
 * database and a reused incident id must not be mistaken for an old one.
 */
function incidentJobId(kind: string, incidentId: number, createdAt: Date): string {
  return `${kind}-${incidentId}-${createdAt.getTime()}`;
}

export async function enqueuePlaybook(
  queues: Queues,
  incident: { id: number; severity: Severity; createdAt: Date },
): Promise<void> {
  await queues.diagnose.add(
    'incident-playbook',
    { incidentId: incident.id },
    {
      jobId: incidentJobId('playbook', incident.id, incident.createdAt),
      priority: priorityOf(incident.severity),
    },
  );
}

export async function enqueueChart(queues: Queues, incident: { id: number; createdAt: Date }): Promise<void> {
  await queues.diagnose.add(
    'incident-chart',
    { incidentId: incident.id },
    { jobId: incidentJobId('chart', incident.id, incident.createdAt) },
  );
}

/**
 * The post-mortem draft, once per resolution: the job id carries the resolution instant, so a
 * re-delivered resolve is harmless and an incident resolved again later (by hand, after a re-fire)
 * gets a draft of its own.
 */
export async function enqueuePostmortem(
  queues: Queues,
  incident: { id: number; resolvedAt: Date | null },
): Promise<void> {
  if (!incident.resolvedAt) return;
  await queues.diagnose.add(
    'incident-postmortem',
    { incidentId: incident.id },
    { jobId: incidentJobId('postmortem', incident.id, incident.resolvedAt) },
  );
}
