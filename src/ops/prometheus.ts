/**
 * Reading alert expressions and their history from Prometheus.
 *
 * - `exprFromGeneratorUrl` and `splitAlertExpr` are pure: an alert's `generatorURL` carries its
 *   PromQL expression (`/graph?g0.expr=…`), and an alert expression is usually a comparison
 *   (`rate(x[5m]) > 0.05`) that only returns series while it holds. A chart wants the left side
 *   over the whole window, with the right side drawn as a threshold.
 * - `PrometheusClient.queryRange` calls `/api/v1/query_range` with global fetch and a hard deadline
 *   (`AbortSignal.timeout`). Failures are typed: `PrometheusUnavailableError` (transient: no answer,
 *   429/5xx, Prometheus's own query timeout) and `PrometheusQueryError` (permanent: the expression
 *   does not parse or cannot be evaluated, or the answer is not a range result).
 */
import { z } from 'zod';
import { InvalidArgumentError, PrometheusQueryError, PrometheusUnavailableError } from '../errors.js';

// ---- Alert expressions -----------------------------------------------------------------------

/** The PromQL expression in a Prometheus `generatorURL` (`g0.expr`), or null when there is none. */
export function exprFromGeneratorUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  // URLSearchParams decodes `+` as a space, as Go's url.QueryEscape (which Prometheus uses) encodes it.
  const expr = parsed.searchParams.get('g0.expr')?.trim();
  return expr ? expr : null;
}

export const COMPARISON_OPS = ['==', '!=', '>=', '<=', '>', '<'] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

export interface AlertQuery {
  /** What to chart: the non-numeric side of a top-level comparison, or the whole expression. */
  readonly expr: string;
  /** The numeric side of that comparison (finite), drawn as a horizontal line; null when none. */
  readonly threshold: number | null;
  /** The comparison read with `expr` on the left (`0.5 < x` gives `>`); null when none was split. */
  readonly op: ComparisonOp | null;
}

const FLIPPED: Readonly<Record<ComparisonOp, ComparisonOp>> = {
  '==': '==',
  '!=': '!=',
  '>=': '<=',
  '<=': '>=',
  '>': '<',
  '<': '>',
};

/**
 * Splits an alert expression at its top-level comparison (`a > 0.05` → chart `a`, threshold 0.05).
 * "Top level" means outside parentheses, brackets, braces (label matchers), strings and comments.
 * When unsure — no comparison, more than one, or a top-level `and`/`or`/`unless` (which bind more
 * loosely than comparisons) — the whole expression is charted without a threshold.
 */
export function splitAlertExpr(expression: string): AlertQuery {
  const whole = stripOuterParens(expression.trim());
  const scan = scanTopLevel(whole);
  const only = scan.comparisons[0];
  if (scan.setOperator || scan.comparisons.length !== 1 || only === undefined) {
    return { expr: whole, threshold: null, op: null };
  }
  const left = stripOuterParens(whole.slice(0, only.index).trim());
  const right = stripOuterParens(
    whole
      .slice(only.index + only.op.length)
      .trim()
      .replace(/^bool\b\s*/, ''),
  );
  if (!left || !right) return { expr: whole, threshold: null, op: null };

  const rightNumber = parsePromNumber(right);
  const leftNumber = parsePromNumber(left);
  if (rightNumber !== null && leftNumber === null) {
    return { expr: left, threshold: Number.isFinite(rightNumber) ? rightNumber : null, op: only.op };
  }
  if (leftNumber !== null && rightNumber === null) {
    return {
      expr: right,
      threshold: Number.isFinite(leftNumber) ? leftNumber : null,
      op: FLIPPED[only.op],
    };
  }
  if (leftNumber === null && rightNumber === null) {
    // Vector against vector (`a > on(host) b`): the left side is still what is being watched.
    return { expr: left, threshold: null, op: only.op };
  }
  return { expr: whole, threshold: null, op: null };
}

/** A PromQL number literal (`0.05`, `-1e3`, `0x1F`, `1_000`, `Inf`, `NaN`), or null. */
export function parsePromNumber(text: string): number | null {
  const m = /^([+-]?)\s*(.+)$/.exec(text.trim());
  if (!m) return null;
  const sign = m[1] === '-' ? -1 : 1;
  const body = (m[2] ?? '').replaceAll('_', '');
  if (/^inf$/i.test(body)) return sign * Number.POSITIVE_INFINITY;
  if (/^nan$/i.test(body)) return Number.NaN;
  if (/^0x[0-9a-f]+$/i.test(body)) return sign * Number.parseInt(body.slice(2), 16);
  if (/^(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i.test(body)) return sign * Number(body);
  return null;
}

interface TopLevelScan {
  readonly comparisons: { readonly index: number; readonly op: ComparisonOp }[];
  readonly setOperator: boolean;
}

const OPENERS = new Set(['(', '[', '{']);
const CLOSERS = new Set([')', ']', '}']);
const isIdentChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_:]/.test(c);

/** Calls `visit(index, char)` for every character outside strings and comments, with its depth. */
function walk(expr: string, visit: (index: number, depth: number) => boolean | undefined): void {
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {
      // Strings: `"…"` and `'…'` with backslash escapes, `` `…` `` raw.
      for (i++; i < expr.length && expr[i] !== c; i++) if (c !== '`' && expr[i] === '\\') i++;
      continue;
    }
    if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      continue;
    }
    if (c !== undefined && CLOSERS.has(c)) depth--;
    if (visit(i, depth) === false) return;
    if (c !== undefined && OPENERS.has(c)) depth++;
  }
}

function scanTopLevel(expr: string): TopLevelScan {
  const comparisons: { index: number; op: ComparisonOp }[] = [];
  let setOperator = false;
  let skipNext = false;
  walk(expr, (i, depth) => {
    if (skipNext) {
      skipNext = false;
      return true;
    }
    if (depth !== 0) return true;
    const c = expr[i];
    const two = expr.slice(i, i + 2);
    if (two === '=~' || two === '!~') {
      skipNext = true;
    } else if (two === '==' || two === '!=' || two === '>=' || two === '<=') {
      comparisons.push({ index: i, op: two });
      skipNext = true;
    } else if (c === '>' || c === '<') {
      comparisons.push({ index: i, op: c });
    } else if (c !== undefined && /[aou]/.test(c) && !isIdentChar(expr[i - 1])) {
      const word = /^(and|or|unless)\b/.exec(expr.slice(i));
      if (word && !isIdentChar(expr[i + (word[1]?.length ?? 0)])) setOperator = true;
    }
    return true;
  });
  return { comparisons, setOperator };
}

/** `((a > 1))` → `a > 1`; `(a) + (b)` is left alone. */
function stripOuterParens(expr: string): string {
  let s = expr.trim();
  while (s.startsWith('(') && s.endsWith(')')) {
    let closesAt = -1;
    walk(s, (i, depth) => {
      if (i > 0 && depth === 0 && s[i] === ')') {
        closesAt = i;
        return false;
      }
      return true;
    });
    if (closesAt !== s.length - 1) break;
    s = s.slice(1, -1).trim();
  }
  return s;
}

// ---- The HTTP API ----------------------------------------------------------------------------

export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 10_000;
/** Prometheus refuses a range query with more points than this per series. */
export const MAX_POINTS_PER_SERIES = 11_000;

export interface PrometheusClientOptions {
  /** Deadline for the whole exchange (connect, headers, body). Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** For tests and stand-ins; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface RangeQueryOptions {
  /** Epoch milliseconds or a Date. */
  readonly start: number | Date;
  readonly end: number | Date;
  /** Resolution; raised automatically when the window would exceed 11,000 points per series. */
  readonly stepSec: number;
}

export interface PromSeries {
  readonly labels: Record<string, string>;
  /** `[epoch ms, value]`, oldest first; NaN and ±Inf samples are dropped. */
  readonly points: [tsMs: number, value: number][];
}

export interface RangeQueryResult {
  readonly series: PromSeries[];
  /** The step actually used (≥ the one asked for). */
  readonly stepSec: number;
  /** Prometheus's warnings, if any (e.g. a partial response). */
  readonly warnings: string[];
}

/**
 * The port chart builders use. Failure semantics: `PrometheusUnavailableError` (transient, retry
 * later), `PrometheusQueryError` (permanent), `InvalidArgumentError` (a bad window or step; nothing
 * was sent).
 */
export interface RangeQuerier {
  queryRange(expr: string, range: RangeQueryOptions): Promise<RangeQueryResult>;
}

/** The smallest step (s) at or above `stepSec` that keeps the window within Prometheus's point limit. */
export function effectiveStepSec(startMs: number, endMs: number, stepSec: number): number {
  const minStep = (endMs - startMs) / 1000 / MAX_POINTS_PER_SERIES;
  return stepSec >= minStep ? stepSec : Math.ceil(minStep);
}

const ApiResponse = z.object({
  status: z.enum(['success', 'error']),
  data: z.object({ resultType: z.string(), result: z.unknown() }).optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
  warnings: z.array(z.string()).optional(),
});

const Matrix = z.array(
  z.object({
    metric: z.record(z.string(), z.string()),
    values: z.array(z.tuple([z.number(), z.string()])).optional(),
  }),
);

/** Prometheus error types that say "not now" rather than "never". */
const TRANSIENT_ERROR_TYPES = new Set(['timeout', 'canceled', 'unavailable']);

export class PrometheusClient implements RangeQuerier {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(baseUrl: string, opts: PrometheusClientOptions = {}) {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PROMETHEUS_TIMEOUT_MS;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async queryRange(expr: string, range: RangeQueryOptions): Promise<RangeQueryResult> {
    const startMs = +range.start;
    const endMs = +range.end;
    if (!expr.trim()) throw new InvalidArgumentError('queryRange: empty expression');
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
      throw new InvalidArgumentError('queryRange: start and end must be times with start <= end');
    }
    if (!Number.isFinite(range.stepSec) || range.stepSec <= 0) {
      throw new InvalidArgumentError('queryRange: stepSec must be a positive number');
    }
    const stepSec = effectiveStepSec(startMs, endMs, range.stepSec);
    const url = new URL('api/v1/query_range', this.baseUrl);
    const where = `${url.origin}${url.pathname}`;
    const body = new URLSearchParams({
      query: expr,
      start: (startMs / 1000).toFixed(3),
      end: (endMs / 1000).toFixed(3),
      step: String(stepSec),
    });

    let status: number;
    let text: string;
    try {
      // POST (form-encoded) so a long expression never meets a URL length limit.
      const res = await this.fetchFn(url, {
        method: 'POST',
        body,
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const detail = timedOut
        ? `no answer within ${this.timeoutMs} ms`
        : `${err instanceof Error ? err.message : String(err)}${causeCode(err)}`;
      throw new PrometheusUnavailableError(where, detail, { cause: err });
    }

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = ApiResponse.safeParse(json);
    if (!parsed.success) {
      if (status === 429 || status >= 500) {
        throw new PrometheusUnavailableError(where, `HTTP ${status}`, { status });
      }
      throw new PrometheusQueryError(where, 'bad_response', `HTTP ${status}: ${text.slice(0, 200)}`, {
        status,
      });
    }
    const answer = parsed.data;
    if (answer.status === 'error') {
      const errorType = answer.errorType ?? 'unknown';
      const error = answer.error ?? '';
      if (TRANSIENT_ERROR_TYPES.has(errorType) || status === 429 || status >= 500) {
        throw new PrometheusUnavailableError(where, `${errorType}: ${error}`, { status });
      }
      throw new PrometheusQueryError(where, errorType, error, { status });
    }
    if (answer.data?.resultType !== 'matrix') {
      throw new PrometheusQueryError(
        where,
        'bad_response',
        `expected a matrix, got ${answer.data?.resultType ?? 'no data'}`,
        { status },
      );
    }
    const matrix = Matrix.safeParse(answer.data.result);
    if (!matrix.success) {
      throw new PrometheusQueryError(where, 'bad_response', 'the matrix is malformed', { status });
    }
    const series: PromSeries[] = matrix.data.map((s) => ({
      labels: s.metric,
      points: toPoints(s.values ?? []),
    }));
    return { series, stepSec, warnings: answer.warnings ?? [] };
  }
}

function toPoints(values: readonly [number, string][]): [number, number][] {
  const points: [number, number][] = [];
  for (const [ts, raw] of values) {
    const value = Number(raw);
    if (Number.isFinite(value)) points.push([Math.round(ts * 1000), value]);
  }
  return points;
}

/** ` (ECONNREFUSED)` from undici's `fetch failed` cause, when there is one. */
function causeCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? ` (${cause.code})` : '';
}
