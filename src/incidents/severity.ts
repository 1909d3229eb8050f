/**
 * Severity per the runbook, as a pure policy: SEV-1…SEV-4 from the alert name, which hosts are
 * affected, and the labels. Defaults follow the runbook; `policy` lets configuration change them.
 */
import type { Severity } from './runbook.js';

export interface SeverityPolicy {
  /** Severity by alert name, for the runbook's alerts. */
  readonly byAlert: Readonly<Record<string, Severity>>;
  /** ServiceDown on every app host at once is a complete outage. */
  readonly serviceDownAllHosts: Severity;
  /** LowCacheHitRate while the hit rate is still at or above this is only SEV-4. */
  readonly cacheHitRateMinor: number;
  readonly cacheHitRateMinorSeverity: Severity;
  /** Alerts the runbook does not name, by their `severity` label. */
  readonly bySeverityLabel: Readonly<Record<string, Severity>>;
  readonly fallback: Severity;
}

export const DEFAULT_SEVERITY_POLICY: SeverityPolicy = {
  byAlert: {
    DatabaseDown: 'SEV-1',
    HighErrorRate: 'SEV-2',
    ServiceDown: 'SEV-3',
    QueryLatencyHigh: 'SEV-3',
    HighMemoryUsage: 'SEV-3',
    LowCacheHitRate: 'SEV-3',
  },
  serviceDownAllHosts: 'SEV-1',
  cacheHitRateMinor: 0.5,
  cacheHitRateMinorSeverity: 'SEV-4',
  bySeverityLabel: { critical: 'SEV-2', warning: 'SEV-3' },
  fallback: 'SEV-4',
};

export interface SeverityAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface SeverityInput {
  readonly alertname: string;
  /** Every alert of the incident (firing and resolved). */
  readonly alerts: readonly SeverityAlert[];
  /** Names of the inventory's app hosts. */
  readonly appHosts: readonly string[];
}

const SEV_LABEL = /^(?:sev-?)?([1-4])$/i;

/** Parses a `sev` label ("SEV-2", "sev2", "2"); anything else is ignored. */
export function parseSevLabel(value: string | undefined): Severity | undefined {
  const m = value ? SEV_LABEL.exec(value.trim()) : null;
  return m ? (`SEV-${m[1]}` as Severity) : undefined;
}

export function severityOf(input: SeverityInput, policy: SeverityPolicy = DEFAULT_SEVERITY_POLICY): Severity {
  const firing = input.alerts.filter((a) => a.status === 'firing');
  const considered = firing.length > 0 ? firing : input.alerts;
  // An explicit `sev` label wins; with several, the most severe.
  const explicit = considered.map((a) => parseSevLabel(a.labels.sev)).filter((s): s is Severity => !!s);
  if (explicit.length > 0) return mostSevere(explicit);

  if (input.alertname === 'ServiceDown') {
    const down = new Set(firing.map((a) => a.labels.host).filter((h): h is string => !!h));
    const allDown = input.appHosts.length > 0 && input.appHosts.every((h) => down.has(h));
    if (allDown) return policy.serviceDownAllHosts;
  }
  if (input.alertname === 'LowCacheHitRate') {
    const rates = considered.map((a) => Number.parseFloat(a.annotations.value ?? '')).filter(Number.isFinite);
    if (rates.length > 0 && Math.min(...rates) >= policy.cacheHitRateMinor)
      return policy.cacheHitRateMinorSeverity;
  }
  const known = policy.byAlert[input.alertname];
  if (known) return known;
  const labels = considered
    .map((a) => policy.bySeverityLabel[a.labels.severity ?? ''])
    .filter((s): s is Severity => !!s);
  return labels.length > 0 ? mostSevere(labels) : policy.fallback;
}

export function mostSevere(severities: readonly Severity[]): Severity {
  return [...severities].sort()[0] ?? 'SEV-4';
}
