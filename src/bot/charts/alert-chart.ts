/**
 * The chart posted into an incident's thread: the alert's expression (the watched side of its
 * comparison) over the last hour, the threshold dashed, as a PNG with a filename and alt text.
 *
 * Failure semantics: returns null when the generatorURL carries no expression (nothing to chart);
 * Prometheus failures propagate as `PrometheusUnavailableError` (transient) or
 * `PrometheusQueryError` (permanent), so the caller's retry policy decides.
 */
import {
  type ComparisonOp,
  exprFromGeneratorUrl,
  type RangeQuerier,
  splitAlertExpr,
} from '../../ops/prometheus.js';
import { type ChartSeries, lineChartSvg, truncate } from './line-chart.js';
import { renderPng } from './render-png.js';
import { seriesNames } from './series-names.js';
import { formatReading, formatTimeUtc, type ValueFormat } from './ticks.js';

export interface AlertChartOptions {
  readonly prometheus: RangeQuerier;
  readonly generatorUrl: string;
  /** Shown as the chart's title and used for the filename, e.g. `HighErrorRate on app-01`. */
  readonly title: string;
  /** The end of the window (epoch ms or Date): the clock is the caller's. */
  readonly now: number | Date;
  /** Default one hour. */
  readonly windowMs?: number;
  readonly width?: number;
  readonly height?: number;
}

export interface AlertChart {
  readonly png: Buffer;
  readonly filename: string;
  readonly altText: string;
  /** The SVG the PNG was rendered from. */
  readonly svg: string;
}

export const DEFAULT_CHART_WINDOW_MS = 3_600_000;
/** About one point per pixel column of the plot. */
const TARGET_POINTS = 720;
const MAX_ALT_TEXT = 1000;

export async function alertChart(opts: AlertChartOptions): Promise<AlertChart | null> {
  const alertExpr = exprFromGeneratorUrl(opts.generatorUrl);
  if (!alertExpr) return null;
  const query = splitAlertExpr(alertExpr);
  const windowMs = opts.windowMs ?? DEFAULT_CHART_WINDOW_MS;
  const end = +opts.now;
  const start = end - windowMs;
  const stepSec = Math.max(1, Math.ceil(windowMs / 1000 / TARGET_POINTS));

  const result = await opts.prometheus.queryRange(query.expr, { start, end, stepSec });
  const series = rankSeries(result.series, query.op);
  const format = guessValueFormat(query.expr, series, query.threshold);
  const thresholdText =
    query.threshold === null ? null : `${query.op ?? ''} ${formatReading(query.threshold, format)}`.trim();

  const svg = lineChartSvg({
    title: opts.title,
    subtitle: `${oneLine(query.expr)}  ·  last ${describeWindow(windowMs)}, step ${result.stepSec} s`,
    series,
    threshold:
      query.threshold === null ? null : { value: query.threshold, label: `alert when ${thresholdText}` },
    start,
    end,
    width: opts.width ?? 1000,
    height: opts.height ?? 400,
    valueFormat: format,
    stepMs: result.stepSec * 1000,
  });
  return {
    png: renderPng(svg),
    svg,
    filename: chartFilename(opts.title, end),
    altText: chartAltText({ title: opts.title, expr: query.expr, series, start, end, format, thresholdText }),
  };
}

/**
 * Most relevant first: for `<`/`<=` alerts the lowest minimum, otherwise the highest maximum, so
 * the series that crossed the threshold get the colours and the legend.
 */
export function rankSeries<S extends ChartSeries>(series: readonly S[], op: ComparisonOp | null): S[] {
  const low = op === '<' || op === '<=';
  const key = (s: S) => {
    const values = s.points.map(([, v]) => v).filter(Number.isFinite);
    if (values.length === 0) return Number.NEGATIVE_INFINITY;
    return low ? -Math.min(...values) : Math.max(...values);
  };
  return series
    .map((s, i) => ({ s, i, k: key(s) }))
    .sort((a, b) => b.k - a.k || a.i - b.i)
    .map(({ s }) => s);
}

const RATE_LIKE = /\b(?:i?rate|increase|i?delta|deriv|histogram_quantile|predict_linear)\s*\(/;
const FRACTION_NAME = /_(?:ratio|hit_rate|usage|utili[sz]ation|fraction)\b/;

/**
 * Percent for gauges that are fractions of one (`qnwis_cache_hit_rate`, `node_memory_usage`):
 * the metric name says so, no rate-like function is applied, and every value lies in [0, 1].
 */
export function guessValueFormat(
  expr: string,
  series: readonly ChartSeries[],
  threshold: number | null,
): ValueFormat {
  if (RATE_LIKE.test(expr) || !FRACTION_NAME.test(expr)) return 'si';
  const inUnit = (v: number) => v >= 0 && v <= 1;
  if (threshold !== null && !inUnit(threshold)) return 'si';
  return series.every((s) => s.points.every(([, v]) => inUnit(v))) ? 'percent' : 'si';
}

/** `HighErrorRate-on-app-01-20261127-2249Z.png`: safe in any file system and Slack. */
export function chartFilename(title: string, endMs: number): string {
  const slug =
    title
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 60) || 'chart';
  const iso = new Date(endMs).toISOString();
  return `${slug}-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 16).replace(':', '')}Z.png`;
}

export function chartAltText(a: {
  title: string;
  expr: string;
  series: readonly ChartSeries[];
  start: number;
  end: number;
  format: ValueFormat;
  thresholdText: string | null;
}): string {
  const when = `from ${formatTimeUtc(a.start)} to ${formatTimeUtc(a.end)} UTC`;
  const head = `Line chart "${a.title}": ${truncate(oneLine(a.expr), 200)} ${when}`;
  const withData = a.series.filter((s) => s.points.length > 0);
  if (withData.length === 0) {
    return truncate(
      `${head}. No data in this window.${a.thresholdText ? ` Alert when ${a.thresholdText}.` : ''}`,
      MAX_ALT_TEXT,
    );
  }
  const { key, names } = seriesNames(withData);
  const parts = withData.slice(0, 8).map((s, i) => {
    const values = s.points.map(([, v]) => v);
    const last = values[values.length - 1] ?? Number.NaN;
    return `${names[i]} last ${formatReading(last, a.format)} (peak ${formatReading(Math.max(...values), a.format)})`;
  });
  const more = withData.length > 8 ? `, and ${withData.length - 8} more` : '';
  const by = key ? ` by ${key}` : '';
  const threshold = a.thresholdText ? ` Alert when ${a.thresholdText}.` : '';
  return truncate(
    `${head}, ${withData.length} series${by}: ${parts.join('; ')}${more}.${threshold}`,
    MAX_ALT_TEXT,
  );
}

function describeWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
