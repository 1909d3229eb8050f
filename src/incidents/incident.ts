/**
 * The incident domain: one incident per Alertmanager group (groupKey) while it is open, holding its
 * alerts by fingerprint. Pure: the store loads the current state, calls `applyNotification`, and
 * writes what it returns in one transaction.
 *
 * Delivery is at least once (retries, HA Alertmanagers), and not always in order, so:
 * - a notification that changes nothing yields no events (only `lastSeen` moves);
 * - for the same alert (fingerprint + startsAt), `resolved` is final: a late `firing` never undoes it;
 * - a `firing` with a newer startsAt is the alert firing again.
 */
import type { AlertmanagerAlert } from './alertmanager.js';
import type { Severity } from './runbook.js';
import { type SeverityPolicy, severityOf } from './severity.js';

export const INCIDENT_STATUSES = ['firing', 'acknowledged', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export interface AlertState {
  readonly fingerprint: string;
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt: string | null;
  readonly generatorURL: string;
}

export interface IncidentState {
  readonly status: IncidentStatus;
  readonly severity: Severity;
  readonly alerts: ReadonlyMap<string, AlertState>;
}

export type IncidentEvent =
  | { readonly kind: 'opened'; readonly severity: Severity }
  | {
      readonly kind: 'alert_firing';
      readonly fingerprint: string;
      readonly host: string | null;
      readonly refired: boolean;
    }
  | { readonly kind: 'alert_resolved'; readonly fingerprint: string; readonly host: string | null }
  | { readonly kind: 'severity_changed'; readonly from: Severity; readonly to: Severity }
  | { readonly kind: 'resolved' };

export interface Transition {
  readonly next: IncidentState;
  readonly events: readonly IncidentEvent[];
  /** True when anything besides last-seen changed (the Slack message must be re-rendered). */
  readonly changed: boolean;
}

export interface ApplyContext {
  readonly appHosts: readonly string[];
  readonly policy?: SeverityPolicy;
}

function toState(a: AlertmanagerAlert): AlertState {
  return {
    fingerprint: a.fingerprint,
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    endsAt: a.status === 'resolved' ? a.endsAt : null,
    generatorURL: a.generatorURL,
  };
}

const later = (a: string, b: string) => Date.parse(a) > Date.parse(b);

/**
 * Applies one notification's alerts to an open incident (or to nothing: a new incident).
 * Returns `null` when there is no open incident and every alert is already resolved: a resolved
 * notification for something we never saw open is recorded by the caller, but opens nothing.
 */
export function applyNotification(
  current: IncidentState | undefined,
  alertname: string,
  incoming: readonly AlertmanagerAlert[],
  ctx: ApplyContext,
): Transition | null {
  if (!current && incoming.every((a) => a.status === 'resolved')) return null;
  const alerts = new Map(current?.alerts ?? []);
  const events: IncidentEvent[] = [];
  let changed = false;

  for (const a of incoming) {
    const before = alerts.get(a.fingerprint);
    const host = a.labels.host ?? null;
    if (!before) {
      alerts.set(a.fingerprint, toState(a));
      changed = true;
      if (a.status === 'firing')
        events.push({ kind: 'alert_firing', fingerprint: a.fingerprint, host, refired: false });
      continue;
    }
    // Compare instants, not strings: Alertmanager writes Go's RFC 3339 (".12Z", nanoseconds)
    // while what we stored reads back as JavaScript's (".120Z").
    const sameOccurrence = Date.parse(a.startsAt) === Date.parse(before.startsAt);
    if (sameOccurrence) {
      // Resolved is final for one occurrence: a late or duplicate "firing" changes nothing.
      if (before.status === 'firing' && a.status === 'resolved') {
        alerts.set(a.fingerprint, toState(a));
        events.push({ kind: 'alert_resolved', fingerprint: a.fingerprint, host });
        changed = true;
      }
      continue;
    }
    if (later(a.startsAt, before.startsAt)) {
      alerts.set(a.fingerprint, toState(a));
      changed = true;
      if (a.status === 'firing')
        events.push({ kind: 'alert_firing', fingerprint: a.fingerprint, host, refired: true });
      else if (before.status === 'firing')
        events.push({ kind: 'alert_resolved', fingerprint: a.fingerprint, host });
    }
    // An older occurrence arriving late is history: ignore it.
  }

  const all = [...alerts.values()];
  const anyFiring = all.some((a) => a.status === 'firing');
  const severity = severityOf({ alertname, alerts: all, appHosts: ctx.appHosts }, ctx.policy);

  let status: IncidentStatus;
  if (!anyFiring) status = 'resolved';
  else if (current?.status === 'acknowledged') status = 'acknowledged';
  else status = 'firing';

  if (!current) {
    events.unshift({ kind: 'opened', severity });
  } else if (severity !== current.severity && anyFiring) {
    events.push({ kind: 'severity_changed', from: current.severity, to: severity });
    changed = true;
  }
  if (status === 'resolved' && current?.status !== 'resolved') {
    events.push({ kind: 'resolved' });
    changed = true;
  }
  return {
    next: { status, severity: anyFiring ? severity : (current?.severity ?? severity), alerts },
    events,
    changed,
  };
}

/** Hosts named by the incident's alerts (label `host`), firing first. */
export function affectedHosts(state: Pick<IncidentState, 'alerts'>): {
  firing: string[];
  resolved: string[];
} {
  const firing = new Set<string>();
  const resolved = new Set<string>();
  for (const a of state.alerts.values()) {
    const host = a.labels.host;
    if (!host) continue;
    (a.status === 'firing' ? firing : resolved).add(host);
  }
  for (const h of firing) resolved.delete(h);
  return { firing: [...firing].sort(), resolved: [...resolved].sort() };
}
