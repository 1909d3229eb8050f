/**
 * Reconciliation. With Slack: an incident whose delivery job was lost is synced again. With Alertmanager: an incident the bot still shows as firing while Alertmanager
 * no longer has its alert (a resolved notification lost while the bot was down, or dropped) is
 * resolved here, and the thread says so. Runs on a BullMQ job scheduler (one run per period across
 * replicas). PagerDuty drift is the escalation issue's part.
 */
import { z } from 'zod';
import type { AlertmanagerWebhook } from '../incidents/alertmanager.js';
import type { Logger } from '../observability/logger.js';
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
    if (now().getTime() - row.updatedAt.getTime() < deps.graceMs) continue;
    const alerts = await deps.store.alerts(row.id);
    const missing = alerts.filter((a) => a.status === 'firing' && !active.has(a.fingerprint));
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
