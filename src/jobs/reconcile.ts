/**
 * Reconciliation. With Slack: an incident whose delivery job was lost is synced again. With Alertmanager: an incident the bot still shows as firing while Alertmanager
 * no longer has its alert (a resolved notification lost while the bot was down, or dropped) is
 * resolved here, and the thread says so. Runs on a BullMQ job scheduler (one run per period across
 * replicas). With PagerDuty's REST API: `reconcileWithPagerDuty` below.
 */
import { z } from 'zod';
import type { AlertmanagerWebhook } from '../incidents/alertmanager.js';
import type { Logger } from '../observability/logger.js';
import type { PagerDutyRest } from '../ops/adapters/pagerduty-rest.js';
import type { IncidentStore, RecordContext } from '../store/incidents.js';
import { enqueueIncidentSync, enqueuePagerDuty, type Queues } from './queues.js';

const activeAlertsSchema = z.array(
  z.looseObject({ fingerprint: z.string(), labels: z.record(z.string(), z.string()) }),
);

export interface AlertmanagerAlerts {
  /** Fingerprints of every alert Alertmanager currently holds as active (silenced and inhibited too). */
  activeFingerprints(): Promise<Set<string>>;
}

export function createAlertmanagerAlerts(baseUrl: string, timeoutMs = 5000): AlertmanagerAlerts {
  const url = new URL(
    'api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true',
    baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`,
  );
  return {
    async activeFingerprints() {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`Alertmanager answered ${res.status} for /api/v2/alerts`);
      return new Set(activeAlertsSchema.parse(await res.json()).map((a) => a.fingerprint));
    },
  };
}

export interface ReconcileDeps {
  store: IncidentStore;
  queues: Queues;
  alertmanager: AlertmanagerAlerts;
  context: RecordContext;
  paging: boolean;
  log: Logger;
  /** Alerts younger than this are left alone: Alertmanager may not have processed them yet. */
  graceMs: number;
  now?: () => Date;
}

export async function reconcileWithAlertmanager(
  deps: ReconcileDeps,
): Promise<{ resolved: number; resent: number }> {
  const now = deps.now ?? (() => new Date());
  // Slack: an incident never posted, or with events its thread has not told (its job was lost
  // with a killed worker), is synced again. Syncs are idempotent, so a spare one costs nothing.
  let resent = 0;
  for (const row of await deps.store.behindInSlack(new Date(now().getTime() - deps.graceMs))) {
    await enqueueIncidentSync(deps.queues, row.id, row.severity);
    resent++;
  }
  if (resent > 0) deps.log.warn({ incidents: resent }, 'incidents behind in Slack: synced again');
  const active = await deps.alertmanager.activeFingerprints();
  let resolved = 0;
  for (const row of await deps.store.openIncidents()) {
    const alerts = await deps.store.alerts(row.id);
    // Young alerts are left alone: Alertmanager may not list them yet. (The alert's age, not the
    // incident's last change: an acknowledgement applied a moment ago must not delay this.)
    const missing = alerts.filter(
      (a) =>
        a.status === 'firing' &&
        !active.has(a.fingerprint) &&
        now().getTime() - Date.parse(a.startsAt) >= deps.graceMs,
    );
    if (missing.length === 0) continue;
    const ended = now().toISOString();
    const payload: AlertmanagerWebhook = {
      version: '4',
      groupKey: row.groupKey,
      truncatedAlerts: 0,
      status: 'resolved',
      receiver: 'reconciliation',
      groupLabels: { alertname: row.alertname },
      commonLabels: row.commonLabels,
      commonAnnotations: {},
      externalURL: row.externalUrl,
      alerts: missing.map((a) => ({
        status: 'resolved' as const,
        labels: { ...a.labels },
        annotations: { ...a.annotations },
        startsAt: a.startsAt,
        endsAt: ended,
        generatorURL: a.generatorURL,
        fingerprint: a.fingerprint,
      })),
    };
    await deps.store.recordNotification(payload, deps.context, now());
    await deps.store.addEvent(
      row.id,
      {
        kind: 'annotated',
        by: 'qnwis-chatops',
        detail: `Alertmanager no longer reports ${missing.length === 1 ? 'this alert' : `${missing.length} of these alerts`}: marked resolved by reconciliation`,
      },
      'reconciliation',
    );
    await enqueueIncidentSync(deps.queues, row.id, row.severity);
    if (deps.paging) await enqueuePagerDuty(deps.queues, row.id);
    deps.log.warn(
      { incidentId: row.id, alerts: missing.map((a) => a.fingerprint) },
      'reconciled alerts Alertmanager no longer has',
    );
    resolved += missing.length;
  }
  return { resolved, resent };
}

export interface PagerDutyReconcileDeps {
  store: IncidentStore;
  queues: Queues;
  rest: PagerDutyRest;
  log: Logger;
}

const hhmm = (iso: string | null | undefined) => (iso ? `${iso.slice(11, 16)} UTC` : 'an unknown time');

/**
 * PagerDuty ↔ the bot, for paged incidents: what PagerDuty knows and the bot was never told (an
 * acknowledgement or resolution while the bot was down, a lost webhook) is applied here and noted
 * in the thread; a resolution PagerDuty never heard of is sent again.
 */
export async function reconcileWithPagerDuty(
  deps: PagerDutyReconcileDeps,
): Promise<{ acknowledged: number; resolvedInPagerDuty: number; resent: number }> {
  const out = { acknowledged: 0, resolvedInPagerDuty: 0, resent: 0 };
  for (const row of await deps.store.pagedIncidents()) {
    const pd = await deps.rest.incidentOf(row);
    if (!pd) continue;
    // No waiting for a webhook that may be on its way: applying what PagerDuty holds is idempotent
    // with it (both record an acknowledgement only once), and waiting loses history when the alert
    // resolves meanwhile (PagerDuty empties `acknowledgements` on resolve).
    await deps.store.linkPagerDuty(row, pd);
    let changed = false;
    const ack = pd.acknowledgements.at(-1);
    if (ack && row.acknowledgedAt === null) {
      // Whether or not it has resolved since: the acknowledgement is part of its history.
      const by = ack.acknowledger.summary ?? 'PagerDuty';
      if (await deps.store.recordMissedAcknowledgement(row.id, by, new Date(ack.at))) {
        await deps.store.addEvent(
          row.id,
          {
            kind: 'annotated',
            by: 'qnwis-chatops',
            detail: `PagerDuty shows it acknowledged by ${by} at ${hhmm(ack.at)}, which the bot had not been told (a lost webhook or a bot outage): applied by reconciliation`,
          },
          'reconciliation',
        );
        out.acknowledged++;
        changed = true;
      }
    }
    if (row.status === 'resolved' && pd.status !== 'resolved') {
      // The resolve event was lost (or PagerDuty refused it for a while): send it again.
      await enqueuePagerDuty(deps.queues, row.id);
      out.resent++;
    }
    if (row.status !== 'resolved' && pd.status === 'resolved' && row.pdStatus !== 'resolved') {
      const by = pd.last_status_change_by?.summary ?? 'PagerDuty';
      await deps.store.setPagerDuty(row.id, { dedupKey: row.pdDedupKey ?? row.key, status: 'resolved' });
      await deps.store.addEvent(
        row.id,
        {
          kind: 'annotated',
          by: 'qnwis-chatops',
          detail: `PagerDuty shows it resolved by ${by} at ${hhmm(pd.resolved_at ?? pd.last_status_change_at)}, which the bot had not been told; the alert decides here: it stays open while Alertmanager fires it`,
        },
        'reconciliation',
      );
      out.resolvedInPagerDuty++;
      changed = true;
    }
    if (changed) {
      await enqueueIncidentSync(deps.queues, row.id, row.severity);
      deps.log.warn(
        { incidentId: row.id, pdIncident: pd.id, pdStatus: pd.status },
        'reconciled with PagerDuty',
      );
    }
  }
  return out;
}
