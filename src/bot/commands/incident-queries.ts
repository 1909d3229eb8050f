/**
 * Read-only incident look-ups for `/qnwis status`, `incidents` and `incident ID`. Only the ids are
 * selected here (the one query IncidentStore lacks: "open, newest first"); rows, alerts and
 * timelines come from IncidentStore itself, so the column mapping stays in one place.
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
  const res = await store.db.query<{ id: string; total: string }>(
    `SELECT id, count(*) OVER () AS total FROM incidents
      WHERE status <> 'resolved' ORDER BY opened_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  const total = Number(res.rows[0]?.total ?? 0);
  const incidents = await Promise.all(res.rows.map((r) => withAlerts(store, Number(r.id))));
  return { total, incidents: incidents.filter((i): i is IncidentWithAlerts => i !== undefined) };
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

/** The playbook's verdict, when the incident store carries one (the diagnosis migration adds it). */
export function verdictOf(row: IncidentRow): string | null {
  const v = (row as IncidentRow & { diagnosisVerdict?: unknown }).diagnosisVerdict;
  return typeof v === 'string' && v.length > 0 ? v : null;
}
