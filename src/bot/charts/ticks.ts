/**
 * Axis ticks and their labels, pure: "nice" value ticks (1, 2, 2.5, 5 × 10ⁿ), time ticks aligned to
 * round UTC instants, values formatted with SI prefixes or as percentages.
 */

export type ValueFormat = 'si' | 'percent';

export interface ValueScale {
  readonly min: number;
  readonly max: number;
  readonly step: number;
  readonly ticks: number[];
}

const NICE_STEPS = [1, 2, 2.5, 5, 10];

/** The step of the form {1, 2, 2.5, 5} × 10ⁿ nearest to `rough` (on a log scale). */
export function niceStep(rough: number): number {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  let best = magnitude;
  for (const n of NICE_STEPS) {
    const candidate = n * magnitude;
    if (Math.abs(Math.log(candidate / rough)) < Math.abs(Math.log(best / rough)) - 1e-9) best = candidate;
  }
  return best;
}

/**
 * Ticks covering `[lo, hi]` with about `count` intervals. The domain always includes 0 when every
 * value has the same sign (rates and ratios read best from a zero baseline) and is widened to whole
 * steps; an empty or flat domain is opened up so a line never sits on the frame.
 */
export function valueScale(lo: number, hi: number, count = 5): ValueScale {
  let min = Number.isFinite(lo) ? lo : 0;
  let max = Number.isFinite(hi) ? hi : 1;
  if (min > max) [min, max] = [max, min];
  if (min > 0) min = 0;
  if (max < 0) max = 0;
  if (min === max) max = min === 0 ? 1 : min + Math.abs(min);
  const step = niceStep((max - min) / count);
  const first = Math.floor(min / step + 1e-9) * step;
  const last = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first, i = 0; v <= last + step * 1e-9 && i < 100; i++, v = first + i * step) {
    ticks.push(roundTo(v, step));
  }
  return { min: first, max: last, step, ticks };
}

/** Removes float noise (0.30000000000000004 → 0.3) relative to the tick step. */
function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  return Number(value.toFixed(Math.min(decimals, 20)));
}

const SI_UP = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const SI_DOWN = ['', 'm', 'µ', 'n', 'p'];

/**
 * A tick label: `percent` multiplies by 100 (0.05 → "5%"); `si` keeps plain decimals between 0.001
 * and 1000 and uses SI prefixes outside (1500 → "1.5k", 0.0002 → "200µ"). The number of decimals
 * follows the tick step, so neighbouring labels always differ.
 */
export function formatValue(value: number, step: number, format: ValueFormat = 'si'): string {
  if (format === 'percent') {
    return `${trimDecimals(value * 100, decimalsFor(step * 100))}%`;
  }
  const abs = Math.max(Math.abs(value), Math.abs(step));
  if (value === 0) return '0';
  if (abs >= 1000) {
    const exp = Math.min(SI_UP.length - 1, Math.floor(Math.log10(abs) / 3));
    const div = 1000 ** exp;
    return `${trimDecimals(value / div, decimalsFor(step / div))}${SI_UP[exp]}`;
  }
  if (Math.abs(step) < 0.001 && Math.abs(value) < 1) {
    // The prefix that keeps the step at or above 0.1 of its unit: 0.0002 → "0.2m", 0.00002 → "20µ".
    const exp = Math.min(SI_DOWN.length - 1, Math.floor((-Math.log10(Math.abs(step)) + 2) / 3));
    const mul = 1000 ** exp;
    return `${trimDecimals(value * mul, decimalsFor(step * mul))}${SI_DOWN[exp]}`;
  }
  return trimDecimals(value, decimalsFor(step));
}

/** A value for prose (alt text): 3 significant digits, SI prefixes outside [0.001, 1000). */
export function formatReading(value: number, format: ValueFormat = 'si'): string {
  if (!Number.isFinite(value)) return String(value);
  if (format === 'percent') return `${precise(value * 100)}%`;
  const abs = Math.abs(value);
  if (abs === 0 || (abs >= 0.001 && abs < 1000)) return precise(value);
  if (abs >= 1000) {
    const exp = Math.min(SI_UP.length - 1, Math.floor(Math.log10(abs) / 3));
    return `${precise(value / 1000 ** exp)}${SI_UP[exp]}`;
  }
  const exp = Math.min(SI_DOWN.length - 1, Math.ceil(-Math.log10(abs) / 3));
  return `${precise(value * 1000 ** exp)}${SI_DOWN[exp]}`;
}

function precise(value: number): string {
  return String(Number(value.toPrecision(3)));
}

function decimalsFor(step: number): number {
  if (!(step > 0)) return 0;
  // 2.5 × 10ⁿ needs one more decimal than 10ⁿ.
  const base = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  return Math.min(12, base + (Math.abs(mantissa - Math.round(mantissa)) > 1e-6 ? 1 : 0));
}

function trimDecimals(value: number, decimals: number): string {
  const text = value.toFixed(decimals);
  return text.includes('.') ? text.replace(/\.?0+$/, '') || '0' : text;
}

// ---- Time ----------------------------------------------------------------------------------

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
];

export interface TimeTicks {
  readonly stepMs: number;
  /** Epoch ms, multiples of the step (UTC), within `[start, end]`. */
  readonly ticks: number[];
}

/** Round UTC instants in `[start, end]`, at most about `maxCount` of them. */
export function timeTicks(startMs: number, endMs: number, maxCount = 8): TimeTicks {
  const span = Math.max(endMs - startMs, SECOND);
  const stepMs = TIME_STEPS.find((s) => span / s <= maxCount) ?? Math.ceil(span / maxCount / DAY) * DAY;
  const ticks: number[] = [];
  for (let t = Math.ceil(startMs / stepMs) * stepMs; t <= endMs && ticks.length < 100; t += stepMs) {
    ticks.push(t);
  }
  return { stepMs, ticks };
}

/** `HH:MM` in UTC; `HH:MM:SS` when ticks are less than a minute apart; `MM-DD` at day steps. */
export function formatTimeUtc(tsMs: number, stepMs: number = MINUTE): string {
  const iso = new Date(tsMs).toISOString();
  if (stepMs >= DAY) return iso.slice(5, 10);
  return stepMs < MINUTE ? iso.slice(11, 19) : iso.slice(11, 16);
}
