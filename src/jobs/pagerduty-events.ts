/**
 * PagerDuty out (Events API v2): SEV-1 and SEV-2 incidents are triggered with the incident key as
 * `dedup_key`, and resolved when the incident resolves. Idempotent: the job compares what
 * PagerDuty should know with what it was last told. A 429 means the event was NOT ingested: the
 * job waits and sends it again, so events for one incident stay in order.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { PagerDutyRejectedError, PagerDutyUnavailableError } from '../errors.js';
import type { Severity } from '../incidents/runbook.js';
import type { Logger } from '../observability/logger.js';
import type { IncidentRow, IncidentStore } from '../store/incidents.js';
import { pagerdutyJobs } from './queues.js';

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
}

export function createPagerDutyProcessor(deps: PagerDutyDeps) {
  return async function process(job: Job, token?: string): Promise<void> {
    const { incidentId } = pagerdutyJobs['incident-event'].parse(job.data);
    const log = deps.log.child({ jobId: job.id, incidentId });
    const row = await deps.store.get(incidentId);
    if (!row) throw new UnrecoverableError(`incident ${incidentId} does not exist`);
    if (!pages(row.severity)) return;
    const wanted = row.status === 'resolved' ? 'resolved' : 'triggered';
    if (row.pdStatus === wanted) return;
    // Never resolve what was never triggered.
    if (wanted === 'resolved' && row.pdStatus === null) return;
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
}
