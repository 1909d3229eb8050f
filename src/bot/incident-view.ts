/** Builds the Block Kit view model of an incident from what the store holds. Pure. */

import { type EscalationMatrix, nextStep, openingResponse, recipientsOf } from '../incidents/escalation.js';
import type { AlertState } from '../incidents/incident.js';
import { affectedHosts } from '../incidents/incident.js';
import { runbookSection } from '../incidents/runbook.js';
import { clockOf, type IncidentRow } from '../store/incidents.js';
import { type IncidentView, silenceUrl } from './blocks/view.js';

/**
 * `clock`: the escalation matrix and the time, for the "next step" line ("escalates to Senior SRE
 * + Dev Lead at 03:42 UTC"); without it the message has no such line.
 */
export function toIncidentView(
  row: IncidentRow,
  alerts: readonly AlertState[],
  clock?: { matrix: EscalationMatrix; now: Date },
): IncidentView {
  const firing = alerts.filter((a) => a.status === 'firing');
  const lead = firing[0] ?? alerts[0];
  const hosts = affectedHosts({ alerts: new Map(alerts.map((a) => [a.fingerprint, a])) });
  return {
    key: row.key,
    alertname: row.alertname,
    severity: row.severity,
    status: row.status,
    summary: lead?.annotations.summary ?? '',
    description: lead?.annotations.description ?? '',
    hosts,
    alerts: { firing: firing.length, resolved: alerts.length - firing.length },
    openedAt: row.openedAt,
    resolvedAt: row.resolvedAt,
    acknowledgedBy: row.acknowledgedBy,
    runbookSection: runbookSection(row.alertname, lead?.annotations ?? {}),
    links: {
      graph: lead?.generatorURL || null,
      silence:
        row.externalUrl && row.status !== 'resolved'
          ? silenceUrl(row.externalUrl, { alertname: row.alertname })
          : null,
      pagerduty: row.pdHtmlUrl,
      alertmanager: row.externalUrl || null,
    },
    nextEscalation: clock
      ? (nextStep(clockOf(row), clock.matrix, clock.now.getTime())?.sentence ?? null)
      : null,
    responders: clock ? respondersOf(row, clock.matrix, clock.now) : null,
    diagnosis: row.diagnosisVerdict,
    proposedActions: row.proposedActions,
    commandsDone: row.commandsDone,
  };
}

/** Who the runbook says answers first, with their Slack mentions; null when nobody (SEV-4). */
function respondersOf(
  row: IncidentRow,
  matrix: EscalationMatrix,
  now: Date,
): { titles: string; mentions: readonly string[] } | null {
  const { levels } = openingResponse(row.severity, matrix, now.getTime());
  if (levels.length === 0) return null;
  const r = recipientsOf(levels, matrix);
  return { titles: r.titles, mentions: r.mentions };
}
