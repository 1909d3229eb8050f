/**
 * Shared pieces of the `/qnwis` replies: status marks, headers, sections, code blocks that fit
 * Slack's limits (long output keeps the part that matters and says what was cut), and a final
 * check that shrinks any reply that would still be refused. Pure.
 */
import type { KnownBlock } from '@slack/web-api';
import type { DiagnosticStatus } from '../../../ops/diagnostics/types.js';
import { blocksSize, checkSlackLimits, SLACK_LIMITS } from '../../blocks/limits.js';
import {
  escapeMrkdwn,
  escapeTruncate,
  mrkdwn,
  plain,
  stripControl,
  truncate,
  truncateEscaped,
} from '../../blocks/text.js';

/** What every builder returns (through `fitReply`) and `respond()` sends. */
export interface CommandReply {
  /** Notification and fallback text: one line of escaped mrkdwn. */
  readonly text: string;
  readonly blocks: KnownBlock[];
  /**
   * A file to share in the channel instead (`/qnwis postmortem`): on success the asker is told
   * `sharedText`; with --private, or when the upload fails, `text`/`blocks` are the answer.
   */
  readonly file?: ReplyFile;
}

export interface ReplyFile {
  readonly filename: string;
  readonly title: string;
  readonly content: string;
  /** The message the file is shared with (mrkdwn). */
  readonly initialComment: string;
  /** The asker's confirmation once it is shared (mrkdwn). */
  readonly sharedText: string;
}

/** What a builder assembles before `fitReply`. */
export interface ReplyDraft {
  /**
   * RAW one-line text (never a mention): `fitReply` escapes it, so a grep for `<!channel>` can
   * never ping a channel through the notification text.
   */
  readonly text: string;
  readonly blocks: KnownBlock[];
}

export const STATUS_MARK: Readonly<Record<DiagnosticStatus, string>> = {
  ok: ':large_green_circle:',
  warn: ':large_yellow_circle:',
  error: ':red_circle:',
  unreachable: ':no_entry:',
  timeout: ':hourglass:',
};

export const STATUS_WORD: Readonly<Record<DiagnosticStatus, string>> = {
  ok: 'ok',
  warn: 'warning',
  error: 'error',
  unreachable: 'unreachable',
  timeout: 'timed out',
};

const WORST_FIRST: readonly DiagnosticStatus[] = ['error', 'unreachable', 'timeout', 'warn', 'ok'];

/** The worst of several statuses (ok when there are none). */
export function worstStatus(statuses: readonly DiagnosticStatus[]): DiagnosticStatus {
  for (const s of WORST_FIRST) if (statuses.includes(s)) return s;
  return 'ok';
}

/** A diagnostic's summary without the "target: " it starts with (the reply names the target already). */
export function bareSummary(r: {
  readonly target: string;
  readonly summary: string;
  readonly error?: string;
  readonly status: string;
}): string {
  const s = r.summary || r.error || r.status;
  return s.startsWith(`${r.target}: `) ? s.slice(r.target.length + 2) : s;
}

/** Escapes text that came from a host, a database or a person for mrkdwn, one line, capped. */
export function md(raw: string, max = 500): string {
  return escapeTruncate(stripControl(raw).replace(/\s+/g, ' ').trim(), max);
}

export function header(text: string): KnownBlock {
  return { type: 'header', text: plain(text, SLACK_LIMITS.headerText) };
}

/** A section of already-escaped mrkdwn, cut to Slack's 3000. */
export function section(escapedMrkdwn: string): KnownBlock {
  return { type: 'section', text: mrkdwn(truncateEscaped(escapedMrkdwn, SLACK_LIMITS.sectionText)) };
}

/** A context line of already-escaped mrkdwn pieces (at most 10). */
export function context(pieces: readonly string[]): KnownBlock {
  const elements = pieces
    .filter((p) => p.length > 0)
    .slice(0, SLACK_LIMITS.contextElements)
    .map((p) => mrkdwn(truncateEscaped(p, SLACK_LIMITS.contextText)));
  return { type: 'context', elements: elements.length > 0 ? elements : [mrkdwn('—')] };
}

export function divider(): KnownBlock {
  return { type: 'divider' };
}

/** `ms` as "420 ms" / "3.2 s". */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A footer: who asked, when, and the reference id. */
export function footer(meta: ReplyMeta, extra: readonly string[] = []): KnownBlock {
  return context([
    ...extra,
    `Requested by <@${meta.userId}> · ${meta.now.toISOString().slice(11, 19)} UTC · ref \`${meta.ref}\``,
  ]);
}

export interface ReplyMeta {
  /** Slack user id (rendered as a mention). */
  readonly userId: string;
  readonly now: Date;
  readonly ref: string;
}

// ---------------------------------------------------------------------------------------------
// Code blocks

/** Inside ``` a run of three backticks would end the block early: break it with a zero-width space. */
function neutraliseFences(line: string): string {
  return line.replace(/```/g, '`\u200b`\u200b`');
}

/** What one line costs in the serialized blocks (JSON escaping doubles quotes and backslashes). */
function jsonCost(text: string): number {
  return JSON.stringify(text).length - 2;
}

export interface CodeBlocksResult {
  readonly blocks: KnownBlock[];
  /** Lines shown (whole or cut). */
  readonly shown: number;
  readonly total: number;
  /** True when some lines were left out or cut. */
  readonly truncated: boolean;
}

/**
 * Lines of output as ``` sections, at most `maxSections`, within `jsonBudget` characters of
 * serialized JSON in all. `keep: 'tail'` keeps the last lines (logs: the newest matter), `head`
 * the first. Each line is escaped for mrkdwn and cut to `maxLineLength`.
 */
export function codeBlocks(
  rawLines: readonly string[],
  opts: { jsonBudget: number; maxSections?: number; keep?: 'head' | 'tail'; maxLineLength?: number },
): CodeBlocksResult {
  const maxSections = opts.maxSections ?? 3;
  const maxLineLength = opts.maxLineLength ?? 600;
  const keep = opts.keep ?? 'head';
  const total = rawLines.length;
  if (total === 0) return { blocks: [], shown: 0, total: 0, truncated: false };
  let cut = false;
  const prepared = rawLines.map((l) => {
    const escaped = neutraliseFences(escapeMrkdwn(stripControl(l.replace(/\t/g, '  '))));
    const short = truncateEscaped(escaped, maxLineLength);
    if (short !== escaped) cut = true;
    return short || ' ';
  });
  const ordered = keep === 'tail' ? [...prepared].reverse() : prepared;
  // Per section: "```\n" + body + "\n```" and the block's own JSON (~60 characters).
  const overhead = 80;
  const sectionMax = SLACK_LIMITS.sectionText - 8;
  const sections: string[][] = [];
  let current: string[] = [];
  let currentLen = 0;
  let budget = opts.jsonBudget;
  let taken = 0;
  for (const line of ordered) {
    const cost = jsonCost(line) + 2;
    const needSection = current.length === 0 || currentLen + line.length + 1 > sectionMax;
    if (needSection) {
      if (current.length > 0) sections.push(current);
      current = [];
      currentLen = 0;
      if (sections.length >= maxSections || budget < overhead + cost) break;
      budget -= overhead;
    } else if (cost > budget) {
      break;
    }
    current.push(line);
    currentLen += line.length + 1;
    budget -= cost;
    taken++;
  }
  if (current.length > 0) sections.push(current);
  const inOrder = keep === 'tail' ? sections.map((s) => [...s].reverse()).reverse() : sections;
  return {
    blocks: inOrder.map((lines) => ({
      type: 'section',
      text: mrkdwn(`\`\`\`\n${lines.join('\n')}\n\`\`\``, { verbatim: true }),
    })),
    shown: taken,
    total,
    truncated: cut || taken < total,
  };
}

/**
 * A fixed-width table for a code block: columns padded to the widest cell (each cell one line,
 * capped), header first.
 */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  maxCell = 80,
): string[] {
  const clean = (s: string) => truncate(stripControl(s).replace(/\s+/g, ' ').trim(), maxCell);
  const all = [headers.map(clean), ...rows.map((r) => r.map(clean))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => Array.from(r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) =>
        i === r.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - Array.from(c).length)),
      )
      .join('  ')
      .trimEnd();
  return all.map(line);
}

// ---------------------------------------------------------------------------------------------
// The last line of defence

/**
 * Makes sure Slack accepts the reply: text within its limit, at most 50 blocks, and the blocks'
 * JSON within the message budget — dropping trailing blocks (keeping the footer) and saying so.
 * Builders are designed to stay inside; this only catches what a test did not foresee.
 */
export function fitReply(reply: ReplyDraft): CommandReply {
  const text = md(reply.text, 3000) || 'QNWIS';
  let blocks = [...reply.blocks];
  if (checkSlackLimits({ text, blocks }).length === 0) return { text, blocks };
  const last = blocks.at(-1);
  const footerBlock = last?.type === 'context' ? last : undefined;
  const body = footerBlock ? blocks.slice(0, -1) : blocks;
  const note = context([':information_source: Output shortened to fit in a Slack message.']);
  const budget = SLACK_LIMITS.messageBlocksJson - 400;
  while (body.length > 0) {
    blocks = [...body, note, ...(footerBlock ? [footerBlock] : [])];
    if (blocks.length <= SLACK_LIMITS.messageBlocks && blocksSize(blocks) <= budget) {
      if (checkSlackLimits({ text, blocks }).length === 0) return { text, blocks };
    }
    body.pop();
  }
  return { text, blocks: [section(text)] };
}
