/**
 * The Slack side of an incident, kept in step with the store by idempotent jobs:
 * - `incident-sync`: post the incident's one top-level message (or, during a storm, list it in the
 *   channel's digest), update it in place when what it shows changed, and post the timeline's new
 *   events as thread replies, in order.
 * - `digest-sync`: post or update a storm digest.
 *
 * Every job renders the current state, so duplicates and retries are harmless. Pacing is per
 * channel; a job that must wait goes back to the delayed set and never blocks the worker.
 */
import { createHash } from 'node:crypto';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { type DiagnosisEvent, diagnosisReply } from '../bot/blocks/diagnosis-reply.js';
import { digestMessage } from '../bot/blocks/digest-message.js';
import { incidentMessage } from '../bot/blocks/incident-message.js';
import { type ThreadEvent, threadReply } from '../bot/blocks/thread-reply.js';
import type { ChatClient, SlackMessage } from '../bot/chat.js';
import { toIncidentView } from '../bot/incident-view.js';
import { SlackRateLimitedError, SlackRejectedError } from '../errors.js';
import type { EscalationMatrix } from '../incidents/escalation.js';
import type { Logger } from '../observability/logger.js';
import type { IncidentStore, TimelineEntry } from '../store/incidents.js';
import type { ChannelPacer } from './pacing.js';
import {
  enqueueChart,
  enqueueDigestSync,
  enqueueIncidentSync,
  enqueuePagerDuty,
  enqueuePostmortem,
  type Queues,
  slackJobs,
} from './queues.js';

export interface SlackSyncDeps {
  store: IncidentStore;
  chat: ChatClient;
  pacer: ChannelPacer;
  queues: Queues;
  log: Logger;
  storm: { threshold: number; windowMs: number };
  /** Whether incidents are paged (SEV-1/2) at all (a routing key is configured). */
  paging: boolean;
  /** Whether a chart of the alerting metric follows each new incident message. */
  charts?: boolean;
  /** The escalation matrix: the message shows the clock's next step. */
  matrix?: EscalationMatrix;
  now?: () => Date;
}

const hash = (m: SlackMessage) => createHash('sha256').update(JSON.stringify(m)).digest('hex').slice(0, 32);

/** Thrown inside a step to move the job back to the delayed set for `ms`. */
class WaitFor {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
}

export function createSlackProcessor(deps: SlackSyncDeps) {
  const now = deps.now ?? (() => new Date());

  async function paced<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    const wait = await deps.pacer.take(channel);
    if (wait > 0) throw new WaitFor(wait);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SlackRateLimitedError) {
        await deps.pacer.blockFor(channel, err.retryAfterSec * 1000);
        throw new WaitFor(err.retryAfterSec * 1000);
      }
      throw err;
    }
  }

  async function syncIncident(incidentId: number, log: Logger): Promise<void> {
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    const alerts = await deps.store.alerts(incidentId);
    const view = toIncidentView(row, alerts, deps.matrix ? { matrix: deps.matrix, now: now() } : undefined);

    if (!row.slackTs && !row.digestId) {
      const windowStart = new Date(now().getTime() - deps.storm.windowMs);
      const recent = await deps.store.countRecentTopLevel(row.channel, windowStart);
      if (row.severity !== 'SEV-1' && recent > deps.storm.threshold) {
        // A storm: list it in the channel's digest instead of a message of its own.
        const digest = await deps.store.digestFor(row.channel, windowStart);
        await deps.store.attachToDigest(row.id, digest.id);
        await enqueueDigestSync(deps.queues, digest.id);
        log.info({ digestId: digest.id, channel: row.channel }, 'incident joins the storm digest');
        return;
      }
      const message = incidentMessage(view, now());
      // The events so far are what this message shows; later ones (the playbook's, which can
      // finish within milliseconds) still get their thread replies.
      const opening = await deps.store.timeline(row.id);
      const posted = await paced(row.channel, () => deps.chat.postMessage(row.channel, message));
      // Remember the message before anything else can fail: a retry must update, not re-post.
      await deps.store.setSlackMessage(row.id, {
        channelId: posted.channel,
        ts: posted.ts,
        renderedHash: hash(message),
      });
      const permalink = await deps.chat.permalink(posted.channel, posted.ts).catch(() => null);
      if (permalink)
        await deps.store.setSlackMessage(row.id, {
          ...posted,
          channelId: posted.channel,
          permalink,
          renderedHash: hash(message),
        });
      log.info({ channel: posted.channel, ts: posted.ts }, 'incident posted');
      if (deps.paging && (row.severity === 'SEV-1' || row.severity === 'SEV-2'))
        await enqueuePagerDuty(deps.queues, row.id);
      if (deps.charts) await enqueueChart(deps.queues, row);
      const last = opening.at(-1);
      if (last) await deps.store.advanceThreadCursor(row.id, last.id);
      // Anything that happened meanwhile is told by the next sync.
      if ((await deps.store.timeline(row.id, last?.id ?? 0)).length > 0) {
        await enqueueIncidentSync(deps.queues, row.id, row.severity);
      }
      return;
    }
    if (row.digestId) {
      await enqueueDigestSync(deps.queues, row.digestId);
      return;
    }
    const channel = row.slackChannelId ?? row.channel;
    const ts = row.slackTs ?? '';
    const message = incidentMessage(view, now());
    const h = hash(message);
    if (h !== row.slackRenderedHash) {
      try {
        await deps.chat.updateMessage(channel, ts, message);
      } catch (err) {
        // Someone deleted the message (or the workspace lost it): post it again rather than
        // leave the incident without a message; the thread starts over under the new one.
        if (
          err instanceof SlackRejectedError &&
          ['message_not_found', 'thread_not_found'].includes(err.slackError)
        ) {
          const posted = await paced(row.channel, () => deps.chat.postMessage(row.channel, message));
          await deps.store.setSlackMessage(row.id, {
            channelId: posted.channel,
            ts: posted.ts,
            renderedHash: h,
          });
          log.warn({ oldTs: ts, ts: posted.ts }, 'incident message was gone from Slack: posted again');
          return;
        }
        throw err;
      }
      await deps.store.setRenderedHash(row.id, h);
    }
    for (const entry of await deps.store.timeline(row.id, row.threadCursor)) {
      const event = toEvent(entry);
      const reply =
        entry.kind === 'diagnosed'
          ? diagnosisReply(entry.data as unknown as DiagnosisEvent)
          : event
            ? threadReply(event, view, now())
            : null;
      if (reply) {
        try {
          await paced(channel, () => deps.chat.postMessage(channel, reply, ts));
        } catch (err) {
          // The parent message is gone: post the incident again; its thread starts over.
          if (err instanceof SlackRejectedError && err.slackError === 'thread_not_found') {
            const posted = await paced(row.channel, () => deps.chat.postMessage(row.channel, message));
            await deps.store.setSlackMessage(row.id, {
              channelId: posted.channel,
              ts: posted.ts,
              renderedHash: h,
            });
            await deps.store.advanceThreadCursor(row.id, entry.id);
            log.warn({ oldTs: ts, ts: posted.ts }, 'incident thread was gone from Slack: posted again');
            return;
          }
          throw err;
        }
      }
      await deps.store.advanceThreadCursor(row.id, entry.id);
    }
    // The post-mortem draft follows the "resolved" reply, whoever resolved it (Alertmanager, a
    // person, reconciliation); its job id makes this once per resolution.
    if (row.status === 'resolved') await enqueuePostmortem(deps.queues, row);
  }

  async function syncDigest(digestId: number): Promise<void> {
    const digest = await deps.store.digest(digestId);
    if (!digest) throw new UnrecoverableError(`digest ${digestId} does not exist`);
    const views = [];
    for (const id of digest.incidentIds) {
      const row = await deps.store.get(id);
      if (row) views.push(toIncidentView(row, await deps.store.alerts(id)));
    }
    const message = digestMessage({
      channel: digest.channel,
      incidents: views,
      since: digest.startedAt,
      now: now(),
    });
    const h = hash(message);
    if (!digest.slackTs) {
      const posted = await paced(digest.channel, () => deps.chat.postMessage(digest.channel, message));
      await deps.store.setDigestMessage(digestId, {
        channelId: posted.channel,
        ts: posted.ts,
        renderedHash: h,
      });
    } else if (h !== digest.renderedHash) {
      await deps.chat.updateMessage(digest.slackChannelId ?? digest.channel, digest.slackTs, message);
      await deps.store.setDigestHash(digestId, h);
    }
  }

  return async function process(job: Job, token?: string): Promise<void> {
    const log = deps.log.child({ jobId: job.id, job: job.name });
    try {
      if (job.name === 'incident-sync') {
        const { incidentId } = slackJobs['incident-sync'].parse(job.data);
        const release = await deps.pacer.lock(`incident-${incidentId}`, 30_000);
        if (!release) throw new WaitFor(200);
        try {
          await syncIncident(incidentId, log.child({ incidentId }));
        } finally {
          await release();
        }
      } else if (job.name === 'digest-sync') {
        const { digestId } = slackJobs['digest-sync'].parse(job.data);
        const release = await deps.pacer.lock(`digest-${digestId}`, 30_000);
        if (!release) throw new WaitFor(300);
        try {
          await syncDigest(digestId);
        } finally {
          await release();
        }
      } else {
        throw new UnrecoverableError(`unknown slack job ${job.name}`);
      }
    } catch (err) {
      if (err instanceof WaitFor) {
        await job.moveToDelayed(Date.now() + err.ms, token);
        throw new DelayedError();
      }
      if (err instanceof SlackRejectedError) {
        // A builder produced something Slack refuses: a bug. Loudly, with what was sent; never retried.
        log.error({ err, slackError: err.slackError, data: job.data }, 'Slack refused the message');
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }
  };
}

const THREAD_KINDS = new Set([
  'opened',
  'alert_firing',
  'alert_resolved',
  'severity_changed',
  'resolved',
  'acknowledged',
  'reassigned',
  'escalated',
  'annotated',
  'resolved_by_hand',
  'snoozed',
  'postmortem_linked',
  'escalation_timer',
]);

/** The timeline entry as a thread event, or null for bookkeeping entries the thread does not tell. */
function toEvent(entry: TimelineEntry): ThreadEvent | null {
  if (entry.kind === 'resolved_in_pagerduty') {
    return {
      kind: 'annotated',
      by: String(entry.data.by ?? 'PagerDuty'),
      detail: 'resolved the PagerDuty incident',
    };
  }
  if (!THREAD_KINDS.has(entry.kind)) return null;
  return { kind: entry.kind, ...entry.data } as unknown as ThreadEvent;
}
