/**
 * The SLO digest (runbook "On-Call Responsibilities": check dashboards every 4 hours, monitor SLO
 * compliance; "Service Level Objectives"): the PromQL for each objective, and the figures judged
 * against the runbook's targets. Pure: readings in, figures out; the queries are strings.
 *
 * - Availability (99.5 %, 30 days): the share of one-minute steps in which at least one app host
 *   answered Prometheus's scrape (`max(up{job="qnwis"})`): the load balancer routes around a single
 *   host that is down (a SEV-3 "failure with redundancy"), so the service is up while one answers.
 *   Steps without any data (Prometheus itself down, or before its oldest sample) count neither way;
 *   the digest says how much of the window it could see.
 * - Query response p95 by type (simple < 10 s, medium < 30 s, complex < 90 s; 24 h): from the
 *   `qnwis_query_duration_seconds` histogram over the window.
 * - Error rate (< 1 %, 24 h): `qnwis_errors_total / qnwis_queries_total` over the window (the app
 *   counts failed queries in both).
 * - Cache hit rate (> 60 %, 24 h): hits / (hits + misses + failed lookups), as the app's own
 *   `qnwis_cache_hit_rate` gauge counts it, but over the window.
 * - Dashboard load time (< 3 s) has no metric in Prometheus: the digest says it is not measured.
 *
 * Each figure is also read over the last `recent` window (the digest's period, 4 h), so a breach that
 * started since the last digest shows before it moves the 24-hour figure.
 */
import { formatDuration } from '../ops/diagnostics/common.js';

export const QUERY_TYPES = ['simple', 'medium', 'complex'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

/** The runbook's targets. */
export const SLO_TARGETS = {
  availability: 0.995,
  p95Seconds: { simple: 10, medium: 30, complex: 90 },
  errorRate: 0.01,
  cacheHitRate: 0.6,
  dashboardLoadSeconds: 3,
} as const;

/** PromQL durations of the runbook's measurement windows and of the digest's own period. */
export interface SloWindows {
  readonly availability: string;
  readonly latency: string;
  readonly errorRate: string;
  readonly cacheHitRate: string;
  readonly recent: string;
}

export const RUNBOOK_SLO_WINDOWS: SloWindows = {
  availability: '30d',
  latency: '24h',
  errorRate: '24h',
  cacheHitRate: '24h',
  recent: '4h',
};

const DURATION = /^([0-9]+)(ms|s|m|h|d|w|y)$/;
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** "24h" → 86 400 000; throws on anything that is not one PromQL duration (the windows are code). */
export function promDurationMs(d: string): number {
  const m = DURATION.exec(d);
  if (!m?.[1] || !m[2]) throw new RangeError(`not a PromQL duration: ${d}`);
  return Number(m[1]) * (UNIT_MS[m[2]] ?? 0);
}

/** The queries, for one job label (the inventory's app scrape job is `qnwis`). */
export function sloQueries(job = 'qnwis') {
  const sel = (extra = '') => `{job="${job}"${extra}}`;
  return {
    availability: (w: string) => `avg_over_time(max(up${sel()})[${w}:1m])`,
    /** Minutes of the window that had any sample (how much of it availability could see). */
    availabilityCoverage: (w: string) => `count_over_time(max(up${sel()})[${w}:1m])`,
    p95ByType: (w: string) =>
      `histogram_quantile(0.95, sum by (type, le) (rate(qnwis_query_duration_seconds_bucket${sel()}[${w}])))`,
    errorRate: (w: string) =>
      `sum(increase(qnwis_errors_total${sel()}[${w}])) / sum(increase(qnwis_queries_total${sel()}[${w}]))`,
    cacheHitRate: (w: string) =>
      `sum(increase(qnwis_cache_requests_total${sel(',result="hit"')}[${w}])) / ` +
      `sum(increase(qnwis_cache_requests_total${sel(',result=~"hit|miss|error"')}[${w}]))`,
    /** For the chart: p95 of one type as a share of its target, over a short rate window. */
    p95ShareOfTarget: (type: QueryType, rateWindow: string) =>
      `histogram_quantile(0.95, sum by (le) (rate(qnwis_query_duration_seconds_bucket${sel(`,type="${type}"`)}[${rateWindow}]))) / ${SLO_TARGETS.p95Seconds[type]}`,
  };
}

/** A reading over the SLO window and over the recent window; null: no data (no traffic, no samples). */
export interface WindowedReading {
  readonly window: number | null;
  readonly recent: number | null;
}

export interface SloReadings {
  readonly availability: WindowedReading;
  /** Minutes with samples in the availability window (null when unknown). */
  readonly availabilityCoverageMinutes: number | null;
  readonly p95Seconds: Readonly<Record<QueryType, WindowedReading>>;
  readonly errorRate: WindowedReading;
  readonly cacheHitRate: WindowedReading;
}

export type SloId = 'availability' | `p95-${QueryType}` | 'error-rate' | 'cache-hit-rate';

export interface SloFigure {
  readonly id: SloId;
  /** "Simple query p95". */
  readonly label: string;
  /** "< 10 s". */
  readonly targetText: string;
  /** "24 h". */
  readonly windowText: string;
  readonly value: number | null;
  readonly valueText: string;
  /** Met over the SLO window; null when there is no data to judge. */
  readonly met: boolean | null;
  readonly recent: number | null;
  readonly recentText: string;
  readonly recentMet: boolean | null;
  /** A remark on the reading (e.g. how much of the window was seen). */
  readonly note: string | null;
}

export function formatPercent(fraction: number, digits = 2): string {
  const p = fraction * 100;
  // Enough digits to tell 99.5 % from 99.49 %, none for round figures.
  const text = Number.isInteger(p) ? String(p) : p.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
  return `${text} %`;
}

export function formatSeconds(s: number): string {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${Number(s.toFixed(s < 10 ? 2 : 1))} s`;
}

const finite = (v: number | null): number | null => (v === null || !Number.isFinite(v) ? null : v);

function judge(
  value: number | null,
  target: number,
  direction: 'below' | 'above' | 'at-least',
): boolean | null {
  if (value === null) return null;
  if (direction === 'below') return value < target;
  if (direction === 'above') return value > target;
  return value >= target;
}

function windowText(w: string): string {
  return formatDuration(promDurationMs(w));
}

/** The digest's figures, in the runbook table's order. */
export function sloFigures(r: SloReadings, windows: SloWindows = RUNBOOK_SLO_WINDOWS): SloFigure[] {
  const figure = (
    id: SloId,
    label: string,
    reading: WindowedReading,
    target: number,
    direction: 'below' | 'above' | 'at-least',
    format: (v: number) => string,
    window: string,
    targetText: string,
    noData: string,
    note: string | null = null,
  ): SloFigure => {
    const value = finite(reading.window);
    const recent = finite(reading.recent);
    return {
      id,
      label,
      targetText,
      windowText: windowText(window),
      value,
      valueText: value === null ? noData : format(value),
      met: judge(value, target, direction),
      recent,
      recentText: recent === null ? noData : format(recent),
      recentMet: judge(recent, target, direction),
      note,
    };
  };
  const availabilityWindowMin = promDurationMs(windows.availability) / 60_000;
  const coverage = r.availabilityCoverageMinutes;
  const coverageNote =
    coverage !== null && coverage < availabilityWindowMin * 0.99
      ? `over the ${formatDuration(coverage * 60_000)} of the ${windowText(windows.availability)} Prometheus has data for`
      : null;
  return [
    figure(
      'availability',
      'Availability',
      r.availability,
      SLO_TARGETS.availability,
      'at-least',
      (v) => formatPercent(v, 3),
      windows.availability,
      `≥ ${formatPercent(SLO_TARGETS.availability)}`,
      'no data',
      coverageNote,
    ),
    ...QUERY_TYPES.map((type) =>
      figure(
        `p95-${type}`,
        `${type[0]?.toUpperCase()}${type.slice(1)} query p95`,
        r.p95Seconds[type],
        SLO_TARGETS.p95Seconds[type],
        'below',
        formatSeconds,
        windows.latency,
        `< ${SLO_TARGETS.p95Seconds[type]} s`,
        'no queries',
      ),
    ),
    figure(
      'error-rate',
      'Error rate',
      r.errorRate,
      SLO_TARGETS.errorRate,
      'below',
      (v) => formatPercent(v),
      windows.errorRate,
      `< ${formatPercent(SLO_TARGETS.errorRate)}`,
      'no queries',
    ),
    figure(
      'cache-hit-rate',
      'Cache hit rate',
      r.cacheHitRate,
      SLO_TARGETS.cacheHitRate,
      'above',
      (v) => formatPercent(v, 1),
      windows.cacheHitRate,
      `> ${formatPercent(SLO_TARGETS.cacheHitRate)}`,
      'no lookups',
    ),
  ];
}

export interface SloSummary {
  readonly met: number;
  readonly breached: readonly SloFigure[];
  readonly unknown: readonly SloFigure[];
  /** Met over the SLO window but breached over the recent one: heading the wrong way. */
  readonly recentlyBreached: readonly SloFigure[];
}

export function summarise(figures: readonly SloFigure[]): SloSummary {
  return {
    met: figures.filter((f) => f.met === true).length,
    breached: figures.filter((f) => f.met === false),
    unknown: figures.filter((f) => f.met === null),
    recentlyBreached: figures.filter((f) => f.met !== false && f.recentMet === false),
  };
}

/** One line for the message's fallback text and the log. */
export function sloHeadline(
  figures: readonly SloFigure[],
  windows: SloWindows = RUNBOOK_SLO_WINDOWS,
): string {
  const s = summarise(figures);
  if (s.breached.length > 0)
    return `SLO breached: ${s.breached.map((f) => `${f.label} ${f.valueText} (target ${f.targetText})`).join(', ')}`;
  if (s.recentlyBreached.length > 0)
    return `SLOs met over their windows; last ${windowText(windows.recent)} off target: ${s.recentlyBreached.map((f) => `${f.label} ${f.recentText}`).join(', ')}`;
  if (s.unknown.length === figures.length) return 'No SLO data: Prometheus has no QNWIS samples';
  return `All ${s.met} SLOs with data are met${s.unknown.length > 0 ? ` (${s.unknown.length} without data)` : ''}`;
}
