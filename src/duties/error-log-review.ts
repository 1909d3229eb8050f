/**
 * The daily error-log review (runbook "On-Call Responsibilities": review error logs daily; "Log
 * Locations"): every host's error logs over the last day, lines normalised into patterns (numbers,
 * ids, timestamps, hex and addresses stripped: src/ops/diagnostics/log-patterns.ts), the top
 * patterns per host, and the patterns the previous review did not have on that host flagged "new".
 * Pure: the lines read in, the review out.
 *
 * - The window: lines dated within it count; a line without a readable time counts (it cannot be
 *   placed, and an error log's undated line is still an error). When the lines read start inside
 *   the window (the tail was capped), the review says how far back it could see.
 * - "New" compares with the previous review's patterns for the same host. A host the previous
 *   review could not read has no baseline: nothing on it is flagged, rather than everything.
 * - The first review has no baseline at all: nothing is flagged; it becomes the baseline.
 */
import { groupLogLines, type LogPattern, parseLogLine } from '../ops/diagnostics/log-patterns.js';

/** What was read from one error log on one host. */
export interface LogSource {
  readonly host: string;
  readonly service: string;
  readonly file: string;
  /** The file's last lines, oldest first. */
  readonly lines: readonly string[];
  /** The read was capped (by lines or bytes): older lines of the window may be missing. */
  readonly capped: boolean;
  /** The file does not exist on the host (nothing logged there yet). */
  readonly missing?: boolean;
  /** It could not be read (host unreachable, permission, timeout): the reason, safe to show. */
  readonly error?: string;
}

export interface ReviewedPattern extends LogPattern {
  readonly file: string;
  /** Not among the previous review's patterns for this host. */
  readonly isNew: boolean;
}

export interface HostReview {
  readonly host: string;
  readonly files: readonly string[];
  /** Lines of the window across the host's error logs. */
  readonly lines: number;
  readonly distinct: number;
  /** The most frequent patterns, most frequent first. */
  readonly top: readonly ReviewedPattern[];
  /** New patterns that are not in `top` (so none goes unseen), most frequent first. */
  readonly otherNew: readonly ReviewedPattern[];
  /** Distinct patterns of the window the previous review did not have here (shown or not). */
  readonly newCount: number;
  /** Every pattern of the window with its count: the next review's baseline. */
  readonly all: readonly { readonly pattern: string; readonly count: number }[];
  /** Set when a capped read starts inside the window: the oldest time it could see. */
  readonly seenSince: string | null;
  /** Logs that could not be read, one sentence each. */
  readonly problems: readonly string[];
  /** Whether the host had a baseline (the previous review read it). */
  readonly compared: boolean;
}

export interface ErrorLogReview {
  readonly at: string;
  readonly windowMs: number;
  readonly hosts: readonly HostReview[];
  readonly totalLines: number;
  readonly newPatterns: number;
  /** A previous review existed to compare with. */
  readonly baseline: boolean;
}

export interface ReviewOptions {
  readonly now: Date;
  /** Default 24 h. */
  readonly windowMs?: number;
  /** Patterns shown per host (default 5). */
  readonly top?: number;
  /** New patterns shown beyond the top ones, per host (default 5). */
  readonly otherNew?: number;
  /** Patterns kept per host as the next baseline (default 500: bounded storage). */
  readonly keep?: number;
}

const PATTERN_KEY = '\u0000';

/**
 * `previous`: host → the patterns the previous review saw there (only hosts it could read), or
 * null when there was no previous review.
 */
export function reviewErrorLogs(
  sources: readonly LogSource[],
  previous: ReadonlyMap<string, ReadonlySet<string>> | null,
  opts: ReviewOptions,
): ErrorLogReview {
  const windowMs = opts.windowMs ?? 24 * 3_600_000;
  const since = new Date(opts.now.getTime() - windowMs);
  const byHost = new Map<string, LogSource[]>();
  for (const s of sources) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
  const hosts: HostReview[] = [];
  for (const [host, logs] of byHost) {
    const baseline = previous?.get(host);
    const problems: string[] = [];
    const patterns: ReviewedPattern[] = [];
    let lines = 0;
    let seenSince: Date | null = null;
    for (const log of logs) {
      if (log.error) {
        problems.push(`${log.file}: ${log.error}`);
        continue;
      }
      if (log.missing) continue;
      const inWindow: string[] = [];
      let oldest: Date | undefined;
      for (const line of log.lines) {
        if (line.trim() === '') continue;
        const at = parseLogLine(line).at;
        if (at && (!oldest || at < oldest)) oldest = at;
        if (!at || at >= since) inWindow.push(line);
      }
      if (log.capped && oldest && oldest > since && (!seenSince || oldest > seenSince)) seenSince = oldest;
      const grouped = groupLogLines(inWindow, { top: Number.MAX_SAFE_INTEGER });
      lines += grouped.lines;
      for (const p of grouped.patterns)
        patterns.push({ ...p, file: log.file, isNew: baseline !== undefined && !baseline.has(p.pattern) });
    }
    // One pattern in two files of a host (rare) counts once in the baseline, with both counts.
    const counts = new Map<string, number>();
    for (const p of patterns) counts.set(p.pattern, (counts.get(p.pattern) ?? 0) + p.count);
    const sorted = [...patterns].sort(
      (a, b) => b.count - a.count || a.file.localeCompare(b.file) || a.pattern.localeCompare(b.pattern),
    );
    const top = sorted.slice(0, opts.top ?? 5);
    const shown = new Set(top.map((p) => `${p.file}${PATTERN_KEY}${p.pattern}`));
    const otherNew = sorted
      .filter((p) => p.isNew && !shown.has(`${p.file}${PATTERN_KEY}${p.pattern}`))
      .slice(0, opts.otherNew ?? 5);
    hosts.push({
      host,
      files: logs.map((l) => l.file),
      lines,
      distinct: counts.size,
      newCount: new Set(patterns.filter((p) => p.isNew).map((p) => p.pattern)).size,
      top,
      otherNew,
      all: [...counts.entries()]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, opts.keep ?? 500)
        .map(([pattern, count]) => ({ pattern, count })),
      seenSince: seenSince?.toISOString() ?? null,
      problems,
      compared: baseline !== undefined,
    });
  }
  return {
    at: opts.now.toISOString(),
    windowMs,
    hosts,
    totalLines: hosts.reduce((n, h) => n + h.lines, 0),
    newPatterns: hosts.reduce((n, h) => n + h.newCount, 0),
    baseline: previous !== null,
  };
}

/**
 * The baseline the next review compares with: host → patterns, for the hosts this review could
 * read (a host with an unreadable log keeps no baseline, so the next review flags nothing there
 * rather than everything).
 */
export function baselineOf(review: ErrorLogReview): { host: string; pattern: string; count: number }[] {
  return review.hosts
    .filter((h) => h.problems.length === 0)
    .flatMap((h) => h.all.map((p) => ({ host: h.host, pattern: p.pattern, count: p.count })));
}

/** Hosts whose reading is a baseline (stored with the run, so "no errors" is a baseline too). */
export function readableHosts(review: ErrorLogReview): string[] {
  return review.hosts.filter((h) => h.problems.length === 0).map((h) => h.host);
}
