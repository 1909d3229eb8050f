/**
 * PagerDuty out (Events API v2): SEV-1 and SEV-2 incidents are triggered with the incident key as
 * `dedup_key`, and resolved when the incident resolves. Idempotent: the job compares what
 * PagerDuty should know with what it was last told. A 429 means the event was NOT ingested: the
 * job waits and sends it again, so events for one incident stay in order.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { PagerDutyRejectedError, PagerDutyUnavailableError } from '../errors.js';
import { formatUtc } from '../incidents/approvals.js';
import { type EscalationMatrix, maintenanceWindowAt, pagesAt } from '../incidents/escalation.js';
import type { Severity } from '../incidents/runbook.js';
import type { Logger } from '../observability/logger.js';
import { escalationsTotal } from '../observability/metrics.js';
import { PagerDutyNoAccountError, type PagerDutyRest } from '../ops/adapters/pagerduty-rest.js';
import type { IncidentRow, IncidentStore } from '../store/incidents.js';
import { enqueueIncidentSync, enqueuePagerDuty, pagerdutyJobs, type Queues } from './queues.js';

export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

export function pagerDutySeverity(sev: Severity): PagerDutySeverity {
  return ({ 'SEV-1': 'critical', 'SEV-2': 'error', 'SEV-3': 'warning', 'SEV-4': 'info' } as const)[sev];
}

export function pages(sev: Severity): boolean {
  return sev === 'SEV-1' || sev === 'SEV-2';
}

export interface EventsApiEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
  client?: string;
  client_url?: string;
}

/** The Events API v2 event for an incident's current state (pure). */
export function eventFor(
  row: IncidentRow,
  routingKey: string,
  summary: string,
  graphUrl: string | null,
): EventsApiEvent {
  if (row.status === 'resolved')
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: row.key };
  const links = [
    ...(row.slackPermalink ? [{ href: row.slackPermalink, text: `Slack: ${row.key}` }] : []),
    ...(graphUrl ? [{ href: graphUrl, text: 'Prometheus graph' }] : []),
  ];
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: row.key,
    payload: {
      summary: `[${row.severity}] ${row.alertname}: ${summary}`.slice(0, 1024),
      source: row.commonLabels.host ?? row.commonLabels.instance ?? 'qnwis',
      severity: pagerDutySeverity(row.severity),
      component: row.commonLabels.service ?? 'qnwis',
      group: row.channel,
      class: row.alertname,
      custom_details: { incident: row.key, labels: row.commonLabels },
    },
    links,
    client: 'qnwis-chatops',
    ...(row.slackPermalink ? { client_url: row.slackPermalink } : {}),
  };
}

export interface EventsApiClient {
  send(event: EventsApiEvent): Promise<void>;
}

/** Events API v2 over fetch (pdjs's event() cannot target a non-HTTPS base URL; LAB-NOTES). */
export function createEventsApiClient(baseUrl: string, timeoutMs = 5000): EventsApiClient {
  const url = new URL('/v2/enqueue', baseUrl).toString();
  return {
    async send(event) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new PagerDutyUnavailableError(
          `PagerDuty Events API unreachable: ${(err as Error).message}`,
          2000,
          { cause: err },
        );
      }
      const text = await res.text();
      if (res.status === 202 || res.ok) return;
      if (res.status === 429)
        throw new PagerDutyUnavailableError(
          'PagerDuty Events API rate limit (429): event not ingested',
          5000,
          { rateLimited: true },
        );
      if (res.status >= 500)
        throw new PagerDutyUnavailableError(`PagerDuty Events API answered ${res.status}`, 2000);
      throw new PagerDutyRejectedError(`PagerDuty refused the event (${res.status}): ${text.slice(0, 300)}`);
    },
  };
}

export interface PagerDutyDeps {
  store: IncidentStore;
  events: EventsApiClient;
  routingKey: string;
  log: Logger;
  /** The escalation matrix: its maintenance window holds non-critical pages back. */
  matrix?: EscalationMatrix;
  /** REST API, for escalations; null: escalations stay in Slack. */
  rest?: PagerDutyRest | null;
  /** The bot's own PagerDuty user (REST `From`) when its clock escalates. */
  botEmail?: string | null;
  queues?: Queues;
  now?: () => number;
}

export function createPagerDutyProcessor(deps: PagerDutyDeps) {
  const now = deps.now ?? (() => Date.now());
  return async function process(job: Job, token?: string): Promise<void> {
    if (job.name === 'incident-escalate') return escalate(job, token);
    const { incidentId, release } = pagerdutyJobs['incident-event'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId });
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    if (!pages(row.severity)) return;
    const wanted = row.status === 'resolved' ? 'resolved' : 'triggered';
    if (row.pdStatus === wanted) return;
    // Never resolve what was never triggered.
    if (wanted === 'resolved' && row.pdStatus === null) return;
    // The runbook's maintenance window: only what may page then is paged; the rest is posted in
    // Slack, and the window's end releases the page if the incident is still open (a timer).
    if (wanted === 'triggered' && !release && deps.matrix && !pagesAt(row.severity, deps.matrix, now())) {
      const window = maintenanceWindowAt(now(), deps.matrix.maintenance);
      if (!(await deps.store.timeline(incidentId)).some((e) => e.kind === 'page_held')) {
        await deps.store.addEvent(
          incidentId,
          {
            kind: 'annotated',
            by: 'qnwis-chatops',
            detail: `Maintenance window until ${window ? formatUtc(window.end, now()) : 'its end'}: posted without paging (only ${deps.matrix.maintenance.pagingSeverities.join(', ')} page now). If still open then, it is paged.`,
          },
          'pagerduty',
        );
        await deps.store.addEvent(incidentId, { kind: 'page_held' }, 'pagerduty');
        if (deps.queues) await enqueueIncidentSync(deps.queues, incidentId, row.severity);
      }
      log.info('page held: maintenance window');
      return;
    }
    const alerts = await deps.store.alerts(incidentId);
    const lead = alerts.find((a) => a.status === 'firing') ?? alerts[0];
    const event = eventFor(
      row,
      deps.routingKey,
      lead?.annotations.summary ?? row.alertname,
      lead?.generatorURL || null,
    );
    try {
      await deps.events.send(event);
    } catch (err) {
      if (err instanceof PagerDutyUnavailableError) {
        log.warn({ err }, 'PagerDuty did not take the event; trying again');
        await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
        throw new DelayedError();
      }
      if (err instanceof PagerDutyRejectedError) {
        log.error({ err, event: { ...event, routing_key: '[redacted]' } }, 'PagerDuty refused the event');
        throw new UnrecoverableError(err.message);
      }
      throw err;
    }
    await deps.store.setPagerDuty(incidentId, { dedupKey: row.key, status: wanted });
    await deps.store.addEvent(
      incidentId,
      { kind: wanted === 'triggered' ? 'paged' : 'page_resolved' },
      'pagerduty',
    );
    log.info({ action: event.event_action }, 'PagerDuty event sent');
  };

  /**
   * Escalates the PagerDuty incident to a level of its escalation policy, as the bot's own user (its
   * clock) or as a person. Waits for the incident to exist in PagerDuty (the trigger may still be
   * on its way); tells the thread only when it cannot be done (PagerDuty's webhook tells success).
   */
  async function escalate(job: Job, token?: string): Promise<void> {
    const data = pagerdutyJobs['incident-escalate'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId: data.incidentId, level: data.level });
    const row = await deps.store.get(data.incidentId);
    if (!row) throw new UnrecoverableError(`incident ${data.incidentId} does not exist`);
    if (row.status === 'resolved') return;
    const from = data.asEmail ?? deps.botEmail ?? null;
    const fail = async (why: string) => {
      escalationsTotal.inc({ kind: 'pagerduty', outcome: 'failed' });
      log.error({ why }, 'PagerDuty escalation failed');
      await deps.store.addEvent(
        row.id,
        {
          kind: 'annotated',
          by: 'qnwis-chatops',
          detail: `Could not escalate in PagerDuty to level ${data.level}: ${why}`,
        },
        'pagerduty',
      );
      if (deps.queues) await enqueueIncidentSync(deps.queues, row.id, row.severity);
    };
    if (!deps.rest || !from) {
      await fail('the PagerDuty REST API is not configured (PAGERDUTY_API_TOKEN, PAGERDUTY_FROM)');
      return;
    }
    try {
      const pdIncident = await deps.rest.incidentOf(row);
      if (!pdIncident) {
        // Not paged yet (held by a maintenance window that just ended, or still in flight): page
        // first, then come back. Bounded: a page that never lands is told in the thread.
        if (job.attemptsMade >= 20 || (job.data.waits ?? 0) >= 30) {
          await fail('the incident never appeared in PagerDuty');
          return;
        }
        if (deps.queues && row.pdStatus !== 'triggered')
          await enqueuePagerDuty(deps.queues, row.id, 0, { release: true });
        await job.updateData({ ...job.data, waits: (job.data.waits ?? 0) + 1 });
        await job.moveToDelayed(Date.now() + 2000, token);
        throw new DelayedError();
      }
      if (pdIncident.status === 'resolved') return;
      const updated = await deps.rest.update(pdIncident.id, { escalation_level: data.level }, from);
      await deps.store.setPagerDuty(row.id, {
        dedupKey: row.pdDedupKey ?? row.key,
        status: 'triggered',
        incidentId: updated.id,
        htmlUrl: updated.html_url ?? null,
      });
      log.info({ pdIncident: updated.id }, 'PagerDuty escalated');
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof PagerDutyUnavailableError) {
        log.warn({ err }, 'PagerDuty REST did not answer; trying again');
        await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
        throw new DelayedError();
      }
      if (err instanceof PagerDutyRejectedError || err instanceof PagerDutyNoAccountError) {
        await fail(err.message);
        return;
      }
      throw err;
    }
  }
}
