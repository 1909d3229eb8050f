/**
 * A line chart as an SVG string, pure (no clock, no I/O): title and subtitle, a value axis with
 * nice ticks (SI or percent), a time axis in UTC, one coloured line per series with a legend of the
 * labels that tell them apart, an optional dashed threshold, and a "no data" state.
 *
 * At most `maxSeries` (8) series get a colour and a legend entry; the rest are drawn as thin grey
 * lines and summarised as one legend line, so nothing is hidden and the legend stays readable.
 * The caller orders the series (most relevant first). All text is escaped for XML.
 */
import { seriesNames } from './series-names.js';
import {
  formatReading,
  formatTimeUtc,
  formatValue,
  timeTicks,
  type ValueFormat,
  valueScale,
} from './ticks.js';

export interface ChartSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** `[epoch ms, value]`, oldest first. */
  readonly points: readonly (readonly [number, number])[];
}

export interface ChartThreshold {
  readonly value: number;
  /** Shown at the line's right end; default `threshold <value>`. */
  readonly label?: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly series: readonly ChartSeries[];
  readonly threshold?: ChartThreshold | null;
  /** The window (epoch ms or Date); points outside it are clipped. */
  readonly start: number | Date;
  readonly end: number | Date;
  readonly width?: number;
  readonly height?: number;
  readonly valueFormat?: ValueFormat;
  /** The query step; consecutive points further apart than 2.5 steps are drawn with a gap. */
  readonly stepMs?: number;
  /** Series with a colour and a legend entry. Default 8. */
  readonly maxSeries?: number;
}

/** Okabe–Ito-like palette: distinguishable with the common colour-vision deficiencies. */
export const SERIES_COLORS = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#56B4E9',
  '#D55E00',
  '#7F3C8D',
  '#8C6D31',
] as const;

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";
const INK = '#1f2933';
const MUTED = '#616e7c';
const GRID = '#e4e7eb';
const AXIS = '#9aa5b1';
const OTHERS = '#bcc3cc';
const THRESHOLD = '#d0312d';
/** Drawn at most, coloured and grey together: a bounded SVG whatever the query returned. */
const MAX_DRAWN = 60;

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .split('')
    .filter(isXmlChar)
    .join('');
}

/** XML 1.0 allows no control characters but tab, LF and CR, not even escaped. */
function isXmlChar(c: string): boolean {
  const code = c.charCodeAt(0);
  return code >= 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

const n = (v: number) => (Math.round(v * 10) / 10).toString();

export function lineChartSvg(opts: LineChartOptions): string {
  const width = opts.width ?? 1000;
  const height = opts.height ?? 400;
  const startMs = +opts.start;
  const endMs = Math.max(+opts.end, startMs + 1000);
  const format = opts.valueFormat ?? 'si';
  const maxSeries = opts.maxSeries ?? 8;

  const legendWidth = 210;
  const plot = { left: 66, top: 64, right: width - legendWidth - 18, bottom: height - 40 };
  const plotW = plot.right - plot.left;
  const plotH = plot.bottom - plot.top;

  const withData = opts.series.filter((s) => s.points.some(([t]) => t >= startMs && t <= endMs));
  const shown = withData.slice(0, maxSeries);
  const rest = withData.slice(maxSeries);

  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of withData) {
    for (const [t, v] of s.points) {
      if (t < startMs || t > endMs || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const threshold = opts.threshold && Number.isFinite(opts.threshold.value) ? opts.threshold : null;
  if (threshold) {
    // Room above (or below) a threshold that bounds the data, so it never sits on the frame.
    const pad = Math.abs(threshold.value) * 0.25 || 1;
    if (!(hi > threshold.value)) hi = threshold.value + pad;
    if (!(lo < threshold.value)) lo = Math.min(lo, threshold.value - (threshold.value > 0 ? 0 : pad));
  }
  const yScale = valueScale(lo, hi, 5);
  const x = (t: number) => plot.left + ((t - startMs) / (endMs - startMs)) * plotW;
  const y = (v: number) => plot.bottom - ((v - yScale.min) / (yScale.max - yScale.min)) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(FONT)}">`,
    `<title>${escapeXml(opts.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plot.left - 50}" y="26" font-size="17" font-weight="bold" fill="${INK}">${escapeXml(truncate(opts.title, 90))}</text>`,
  );
  if (opts.subtitle) {
    out.push(
      `<text x="${plot.left - 50}" y="47" font-size="12" fill="${MUTED}">${escapeXml(truncate(opts.subtitle, 135))}</text>`,
    );
  }

  // Value axis: grid lines and labels.
  out.push('<g class="y-axis" font-size="12" text-anchor="end">');
  for (const v of yScale.ticks) {
    const yy = n(y(v));
    out.push(
      `<line x1="${plot.left}" x2="${plot.right}" y1="${yy}" y2="${yy}" stroke="${GRID}" stroke-width="1"/>`,
      `<text x="${plot.left - 8}" y="${n(y(v) + 4)}" fill="${MUTED}">${escapeXml(formatValue(v, yScale.step, format))}</text>`,
    );
  }
  out.push('</g>');

  // Time axis: ticks at round UTC instants.
  const time = timeTicks(startMs, endMs, Math.max(3, Math.floor(plotW / 90)));
  out.push('<g class="x-axis" font-size="12" text-anchor="middle">');
  for (const t of time.ticks) {
    const xx = n(x(t));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${plot.top}" y2="${plot.bottom}" stroke="${GRID}" stroke-width="1" stroke-dasharray="2 3"/>`,
      `<line x1="${xx}" x2="${xx}" y1="${plot.bottom}" y2="${plot.bottom + 5}" stroke="${AXIS}" stroke-width="1"/>`,
      `<text x="${xx}" y="${plot.bottom + 19}" fill="${MUTED}">${formatTimeUtc(t, time.stepMs)}</text>`,
    );
  }
  out.push(
    `<text x="${plot.right}" y="${plot.bottom + 35}" font-size="11" text-anchor="end" fill="${MUTED}">UTC</text>`,
    '</g>',
    `<line x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}" stroke="${AXIS}" stroke-width="1"/>`,
    `<line x1="${plot.left}" x2="${plot.left}" y1="${plot.top}" y2="${plot.bottom}" stroke="${AXIS}" stroke-width="1"/>`,
    `<clipPath id="plot-area"><rect x="${plot.left}" y="${plot.top - 6}" width="${plotW}" height="${plotH + 8}"/></clipPath>`,
  );

  // Lines: the others first (grey, underneath), then the coloured ones, the first series on top.
  const gapFor = (s: ChartSeries) => 2.5 * (opts.stepMs ?? medianSpacing(s.points));
  out.push(
    '<g class="series" clip-path="url(#plot-area)" fill="none" stroke-linejoin="round" stroke-linecap="round">',
  );
  for (const s of rest.slice(0, MAX_DRAWN - shown.length)) {
    out.push(seriesPath(s, x, y, gapFor(s), OTHERS, 1.2));
  }
  for (let i = shown.length - 1; i >= 0; i--) {
    const s = shown[i];
    if (s) out.push(seriesPath(s, x, y, gapFor(s), SERIES_COLORS[i % SERIES_COLORS.length] ?? INK, 2.2));
  }
  out.push('</g>');

  if (threshold) {
    const ty = n(y(threshold.value));
    const label = threshold.label ?? `threshold ${formatReading(threshold.value, format)}`;
    out.push(
      `<g class="threshold"><line x1="${plot.left}" x2="${plot.right}" y1="${ty}" y2="${ty}" stroke="${THRESHOLD}" stroke-width="1.6" stroke-dasharray="7 5"/>`,
      `<text x="${plot.right - 4}" y="${n(y(threshold.value) < plot.top + 18 ? y(threshold.value) + 16 : y(threshold.value) - 6)}" font-size="12" text-anchor="end" fill="${THRESHOLD}" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(label)}</text></g>`,
    );
  }

  if (withData.length === 0) {
    out.push(
      `<text class="no-data" x="${n(plot.left + plotW / 2)}" y="${n(plot.top + plotH / 2)}" font-size="18" text-anchor="middle" fill="${MUTED}">No data in this window</text>`,
    );
  }

  out.push(legend(shown, rest.length, plot.right + 22, plot.top, legendWidth - 10, format, startMs, endMs));
  out.push('</svg>');
  return out.join('\n');
}

function legend(
  shown: readonly ChartSeries[],
  restCount: number,
  left: number,
  top: number,
  width: number,
  format: ValueFormat,
  startMs: number,
  endMs: number,
): string {
  if (shown.length === 0) return '<g class="legend"></g>';
  const { key, names } = seriesNames(shown);
  const out = ['<g class="legend" font-size="12">'];
  out.push(
    `<text x="${left}" y="${top + 4}" font-weight="bold" fill="${MUTED}">${escapeXml(truncate(key ?? 'series', 16))}</text>`,
    `<text x="${left + width}" y="${top + 4}" text-anchor="end" fill="${MUTED}">last</text>`,
  );
  shown.forEach((s, i) => {
    const row = top + 26 + i * 22;
    const color = SERIES_COLORS[i % SERIES_COLORS.length] ?? INK;
    const last = lastValue(s, startMs, endMs);
    out.push(
      `<g class="legend-entry"><line x1="${left}" x2="${left + 18}" y1="${row - 4}" y2="${row - 4}" stroke="${color}" stroke-width="3" stroke-linecap="round"/>`,
      `<text x="${left + 25}" y="${row}" fill="${INK}">${escapeXml(truncate(names[i] ?? '', 17))}</text>`,
      `<text x="${left + width}" y="${row}" text-anchor="end" fill="${MUTED}">${last === null ? '–' : escapeXml(formatReading(last, format))}</text></g>`,
    );
  });
  if (restCount > 0) {
    const row = top + 26 + shown.length * 22;
    out.push(
      `<g class="legend-rest"><line x1="${left}" x2="${left + 18}" y1="${row - 4}" y2="${row - 4}" stroke="${OTHERS}" stroke-width="2"/>`,
      `<text x="${left + 25}" y="${row}" fill="${MUTED}">+${restCount} more series</text></g>`,
    );
  }
  out.push('</g>');
  return out.join('\n');
}

function seriesPath(
  s: ChartSeries,
  x: (t: number) => number,
  y: (v: number) => number,
  gapMs: number,
  color: string,
  strokeWidth: number,
): string {
  const d: string[] = [];
  const dots: string[] = [];
  let run: string[] = [];
  let prevT = Number.NaN;
  const flush = () => {
    if (run.length === 1) dots.push(run[0] ?? '');
    else if (run.length > 1) d.push(`M${run.join('L')}`);
    run = [];
  };
  for (const [t, v] of s.points) {
    if (!Number.isFinite(v)) continue;
    if (!(t - prevT <= gapMs)) flush();
    run.push(`${n(x(t))} ${n(y(v))}`);
    prevT = t;
  }
  flush();
  const circles = dots.map((p) => {
    const [cx, cy] = p.split(' ');
    return `<circle cx="${cx}" cy="${cy}" r="${strokeWidth + 0.8}" fill="${color}" stroke="none"/>`;
  });
  const path = d.length ? `<path d="${d.join('')}" stroke="${color}" stroke-width="${strokeWidth}"/>` : '';
  return `${path}${circles.join('')}`;
}

function medianSpacing(points: readonly (readonly [number, number])[]): number {
  if (points.length < 2) return Number.POSITIVE_INFINITY;
  const diffs: number[] = [];
  for (let i = 1; i < points.length; i++) diffs.push((points[i]?.[0] ?? 0) - (points[i - 1]?.[0] ?? 0));
  diffs.sort((a, b) => a - b);
  return diffs[Math.floor(diffs.length / 2)] ?? Number.POSITIVE_INFINITY;
}

function lastValue(s: ChartSeries, startMs: number, endMs: number): number | null {
  for (let i = s.points.length - 1; i >= 0; i--) {
    const p = s.points[i];
    if (p && p[0] >= startMs && p[0] <= endMs && Number.isFinite(p[1])) return p[1];
  }
  return null;
}
