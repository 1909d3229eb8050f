/**
 * Groups log lines into patterns (runbook Scenario 1, step 2 "Identify error pattern"): the
 * variable parts of a message — numbers, ids, timestamps, addresses, URL parameters — become
 * placeholders, so 300 "connection pool exhausted (pool size 20, 17 waiting)" lines with different
 * numbers and query ids count as one pattern. Pure functions; no I/O.
 *
 * The QNWIS app logs JSON lines (`{"ts","level","logger","msg",…}`) whose `msg` repeats its fields as
 * key=value text; for those the `msg` is normalised. Any other line is normalised whole.
 */

export interface ParsedLogLine {
  /** The line as read (trailing newline removed). */
  readonly raw: string;
  /** The message to group on: `msg` of a JSON line, else the whole line. */
  readonly message: string;
  readonly json: boolean;
  readonly level: string | undefined;
  readonly logger: string | undefined;
  /** When the line was written, if it says so (JSON `ts`, or a leading timestamp). */
  readonly at: Date | undefined;
}

export function parseLogLine(line: string): ParsedLogLine {
  const raw = line.replace(/\r?\n$/, '');
  const trimmed = raw.trim();
  if (trimmed.startsWith('{')) {
    try {
      const obj = JSON.parse(trimmed) as unknown;
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const rec = obj as Record<string, unknown>;
        const msg =
          typeof rec.msg === 'string' ? rec.msg : typeof rec.message === 'string' ? rec.message : undefined;
        if (msg !== undefined) {
          return {
            raw,
            message: msg,
            json: true,
            level: typeof rec.level === 'string' ? rec.level : undefined,
            logger: typeof rec.logger === 'string' ? rec.logger : undefined,
            at: parseDate(
              typeof rec.ts === 'string' ? rec.ts : typeof rec.time === 'string' ? rec.time : undefined,
            ),
          };
        }
      }
    } catch {
      // Not JSON after all (or cut off by the output cap): treat it as text.
    }
  }
  const level = /\b(CRITICAL|ERROR|WARNING|WARN|INFO|DEBUG)\b/.exec(trimmed)?.[1];
  return { raw, message: trimmed, json: false, level, logger: undefined, at: leadingDate(trimmed) };
}

function parseDate(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : new Date(t);
}

/** `2026-11-27T22:46:20.200Z …`, `2026-11-27 22:46:20,123 …` or nginx's `2026/11/27 22:46:20 …` at the start. */
function leadingDate(line: string): Date | undefined {
  const m =
    /^\[?(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?/.exec(
      line,
    );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = frac ? `.${frac.padEnd(3, '0').slice(0, 3)}` : '';
  // Without a zone the line is in the host's local time; hosts run UTC (as the QNWIS app logs).
  const tz = zone
    ? zone === 'Z'
      ? 'Z'
      : zone.length === 5
        ? `${zone.slice(0, 3)}:${zone.slice(3)}`
        : zone
    : 'Z';
  return parseDate(`${y}-${mo}-${d}T${h}:${mi}:${s}${ms}${tz}`);
}

/**
 * key=value context the app appends to every message (`query_id=… user_id=… type=… duration_ms=…`):
 * it identifies one occurrence, not the pattern, so it is dropped before grouping.
 */
const CONTEXT_KEYS = [
  'query_id',
  'user_id',
  'type',
  'reason',
  'duration_ms',
  'rows',
  'cache',
  'source',
  'remote_addr',
  'request_id',
  'trace_id',
  'span_id',
  'took_ms',
  'latency_ms',
  'elapsed_ms',
  'pid',
  'host',
];
const CONTEXT_KV = new RegExp(`\\s*\\b(?:${CONTEXT_KEYS.join('|')})=(?:"(?:[^"\\\\]|\\\\.)*"|\\S+)`, 'g');

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';

/** The rules, in order: earlier ones protect structure (URLs, timestamps) from later generic ones. */
const RULES: readonly (readonly [RegExp, string | ((m: string) => string)])[] = [
  [/\bhttps?:\/\/[^\s"'<>()[\]{}|\\^`]+/g, (url) => normaliseUrl(url)],
  // ISO-8601 / Python logging / nginx timestamps, then syslog's "Nov 27 22:46:20".
  [/\b\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?/g, '<ts>'],
  [new RegExp(`\\b(?:${MONTHS}) {1,2}\\d{1,2} \\d{2}:\\d{2}:\\d{2}\\b`, 'g'), '<ts>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, '<date>'],
  [/\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b/g, '<time>'],
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  // QNWIS query ids (q_2026_000123) and user ids (analyst_17), then any other word_123 id.
  [/\bq_\d{4}_\d+\b/g, '<query_id>'],
  [/\b(?:analyst|user|admin|api_client|svc|service)_\d+\b/g, '<user>'],
  [/\b[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*_\d+\b/g, '<id>'],
  // IPv4 (a port after it becomes <n> below) and IPv6 with at least three groups.
  [/\b(?:\d{1,3}\.){3}\d{1,3}\b/g, '<ip>'],
  [/(?<![\w:])(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|(?<![\w:])::1\b/gi, '<ip>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  // Hex ids (hashes, trace ids): 8+ hex digits with at least one digit and one letter.
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>'],
  // Any other number not glued to a letter on its left ("v2", "sha256" stay; "5000ms" → "<n>ms").
  [/(?<![A-Za-z_\d.])\d+(?:\.\d+)?(?!\d)/g, '<n>'],
];

/** A message → its pattern. */
export function normaliseMessage(message: string): string {
  let out = message.replace(CONTEXT_KV, '');
  for (const [re, replacement] of RULES) {
    out = typeof replacement === 'string' ? out.replace(re, replacement) : out.replace(re, replacement);
  }
  return out
    .replace(/\s+/g, ' ')
    .replace(/^(?:<ts>|<date>|<time>)[\s,]*/, '')
    .trim();
}

/**
 * Keeps scheme, host and the path's fixed words; numeric or id-like path segments and every query
 * value become placeholders; the fragment is dropped. Trailing punctuation is not part of the URL.
 */
export function normaliseUrl(url: string): string {
  const trail = /[.,;:!?]+$/.exec(url)?.[0] ?? '';
  const body = trail ? url.slice(0, -trail.length) : url;
  const m = /^(https?:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(body);
  if (!m) return url;
  const [, scheme = '', authority = '', path = '', query] = m;
  // user-info never belongs in a pattern (or in chat).
  const hostPort = authority.replace(/^[^@]*@/, '');
  const host = /^\[?[0-9a-f:.]+\]?(?::\d+)?$/i.test(hostPort) && /\d/.test(hostPort) ? '<ip>' : hostPort;
  const segments = path
    .split('/')
    .map((seg) => (seg === '' ? seg : isVariableSegment(seg) ? normaliseSegment(seg) : seg))
    .join('/');
  const q = query
    ? `?${query
        .slice(1)
        .split('&')
        .filter((kv) => kv !== '')
        .map((kv) => `${kv.split('=')[0]}=<v>`)
        .join('&')}`
    : '';
  return `${scheme}${host}${segments}${q}${trail}`;
}

function isVariableSegment(seg: string): boolean {
  return /\d/.test(seg) && !/^v\d+$/i.test(seg);
}

function normaliseSegment(seg: string): string {
  if (/^\d+$/.test(seg)) return '<n>';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(seg)) return '<uuid>';
  if (/^q_\d{4}_\d+$/.test(seg)) return '<query_id>';
  return '<id>';
}

export interface LogPattern {
  readonly pattern: string;
  readonly count: number;
  /** One real line's message for the pattern (the most recent), cut at 500 characters. */
  readonly example: string;
  readonly level: string | undefined;
  readonly logger: string | undefined;
  /** Oldest and newest occurrence among the lines read, when the lines carry times. */
  readonly firstAt: string | undefined;
  readonly lastAt: string | undefined;
}

export interface LogPatternSummary {
  /** Non-empty lines read. */
  readonly lines: number;
  /** Distinct patterns among them. */
  readonly distinct: number;
  /** The `top` most frequent patterns, most frequent first (ties: the one seen first). */
  readonly patterns: readonly LogPattern[];
  /** Lines whose pattern is not among `patterns`. */
  readonly otherLines: number;
  /** Newest time found on any line. */
  readonly newestAt: string | undefined;
  /** Lines written at or after `since` (lines without a time count as recent). */
  readonly recentLines: number;
}

const MAX_PATTERN_CHARS = 300;
const MAX_EXAMPLE_CHARS = 500;

export function groupLogLines(
  lines: readonly string[],
  opts: { top?: number; since?: Date } = {},
): LogPatternSummary {
  const top = opts.top ?? 10;
  const groups = new Map<
    string,
    {
      count: number;
      order: number;
      example: string;
      level?: string;
      logger?: string;
      first?: Date;
      last?: Date;
    }
  >();
  let total = 0;
  let recent = 0;
  let newest: Date | undefined;
  for (const line of lines) {
    if (line.trim() === '') continue;
    total++;
    const p = parseLogLine(line);
    if (p.at === undefined || opts.since === undefined || p.at >= opts.since) recent++;
    if (p.at && (!newest || p.at > newest)) newest = p.at;
    let pattern = normaliseMessage(p.message);
    if (pattern.length > MAX_PATTERN_CHARS) pattern = `${pattern.slice(0, MAX_PATTERN_CHARS - 1)}…`;
    const g = groups.get(pattern);
    const example =
      p.message.length > MAX_EXAMPLE_CHARS ? `${p.message.slice(0, MAX_EXAMPLE_CHARS - 1)}…` : p.message;
    if (!g) {
      groups.set(pattern, {
        count: 1,
        order: groups.size,
        example,
        level: p.level,
        logger: p.logger,
        first: p.at,
        last: p.at,
      });
    } else {
      g.count++;
      // Lines come oldest first (tail): the latest example is the freshest evidence.
      g.example = example;
      if (p.at && (!g.first || p.at < g.first)) g.first = p.at;
      if (p.at && (!g.last || p.at > g.last)) g.last = p.at;
    }
  }
  const sorted = [...groups.entries()].sort((a, b) => b[1].count - a[1].count || a[1].order - b[1].order);
  const patterns = sorted.slice(0, top).map(([pattern, g]) => ({
    pattern,
    count: g.count,
    example: g.example,
    level: g.level,
    logger: g.logger,
    firstAt: g.first?.toISOString(),
    lastAt: g.last?.toISOString(),
  }));
  const shown = patterns.reduce((n, p) => n + p.count, 0);
  return {
    lines: total,
    distinct: groups.size,
    patterns,
    otherLines: total - shown,
    newestAt: newest?.toISOString(),
    recentLines: recent,
  };
}
