/**
 * Read-only incident look-ups for `/qnwis status`, `incidents` and `incident ID`, all through
 * IncidentStore so the column mapping stays in one place.
 */
import type { AlertState } from '../../incidents/incident.js';
import type { IncidentRow, IncidentStore, TimelineEntry } from '../../store/incidents.js';

export interface IncidentWithAlerts {
  readonly row: IncidentRow;
  readonly alerts: readonly AlertState[];
}

export interface OpenIncidents {
  /** All open incidents, even beyond `limit`. */
  readonly total: number;
  /** Newest first, at most `limit`. */
  readonly incidents: readonly IncidentWithAlerts[];
}

export async function openIncidents(store: IncidentStore, limit: number): Promise<OpenIncidents> {
  const open = await store.openIncidents();
  const newest = [...open]
    .sort((a, b) => b.openedAt.getTime() - a.openedAt.getTime() || b.id - a.id)
    .slice(0, limit);
  const incidents = await Promise.all(
    newest.map(async (row) => ({ row, alerts: await store.alerts(row.id) })),
  );
  return { total: open.length, incidents };
}

export interface IncidentDetail extends IncidentWithAlerts {
  /** The last `timelineLimit` events, oldest first. */
  readonly timeline: readonly TimelineEntry[];
  readonly timelineTotal: number;
}

export async function incidentDetail(
  store: IncidentStore,
  id: number,
  timelineLimit = 15,
): Promise<IncidentDetail | undefined> {
  const found = await withAlerts(store, id);
  if (!found) return undefined;
  const timeline = await store.timeline(id);
  return { ...found, timeline: timeline.slice(-timelineLimit), timelineTotal: timeline.length };
}

async function withAlerts(store: IncidentStore, id: number): Promise<IncidentWithAlerts | undefined> {
  const row = await store.get(id);
  if (!row) return undefined;
  return { row, alerts: await store.alerts(id) };
}

/** The playbook's verdict, once it ran. */
export function verdictOf(row: IncidentRow): string | null {
  return row.diagnosisVerdict || null;
}
