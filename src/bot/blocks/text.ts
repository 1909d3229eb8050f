/**
 * Text helpers for Block Kit builders: mrkdwn escaping, single-lining and length-safe truncation.
 * Pure. Lengths are measured in UTF-16 code units (`string.length`), which is never less than the
 * characters Slack counts, so a text that fits here fits in Slack.
 */
import type { MrkdwnElement, PlainTextElement } from '@slack/web-api';

/**
 * Escapes the three characters Slack's mrkdwn treats as control characters (`&`, `<`, `>`), so
 * alert- or user-provided text can never form a link, a mention (`<!channel>`, `<@U…>`) or a
 * date token. Everything else is left alone (Slack decodes only these three entities).
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * Drops control characters other than newline and tab: they render as nothing, and each costs six
 * characters of JSON (`\u0007`) against Slack's size limits.
 */
export function stripControl(text: string): string {
  return text.replace(CONTROL, '');
}

/** Collapses runs of whitespace (newlines included) to one space: for one-line contexts. */
export function oneLine(text: string): string {
  return stripControl(text).replace(/\s+/g, ' ').trim();
}

const ELLIPSIS = '…';

/** Cuts `text` to at most `max` code units without splitting a surrogate pair. */
function cut(text: string, max: number): string {
  let out = text.slice(0, Math.max(0, max));
  const last = out.charCodeAt(out.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  return out;
}

/** Truncates to at most `max` code units, ending with `suffix` (an ellipsis) when cut. */
export function truncate(text: string, max: number, suffix = ELLIPSIS): string {
  if (text.length <= max) return text;
  if (max <= suffix.length) return cut(suffix, max);
  return cut(text, max - suffix.length).trimEnd() + suffix;
}

/**
 * Truncates text that is already mrkdwn-escaped to at most `max` code units, never leaving half an
 * entity (`&am`) or half a surrogate pair behind.
 */
export function truncateEscaped(escaped: string, max: number, suffix = ELLIPSIS): string {
  if (escaped.length <= max) return escaped;
  if (max <= suffix.length) return cut(suffix, max);
  let out = cut(escaped, max - suffix.length);
  const amp = out.lastIndexOf('&');
  if (amp !== -1 && !out.slice(amp).includes(';')) out = out.slice(0, amp);
  return out.trimEnd() + suffix;
}

/**
 * Escapes `raw` for mrkdwn (dropping control characters) and truncates the escaped result to at
 * most `max` code units.
 */
export function escapeTruncate(raw: string, max: number, suffix = ELLIPSIS): string {
  return truncateEscaped(escapeMrkdwn(stripControl(raw)), max, suffix);
}

/**
 * A plain_text object (headers, buttons). Slack does not document whether plain_text parses
 * `<!here>`-style tokens or decodes entities, so instead of escaping (which might show as
 * `&lt;`), `<` and `>` become look-alikes (＜ ＞) and no token can form either way. Empty text is
 * replaced: Slack rejects it.
 */
export function plain(text: string, max: number): PlainTextElement {
  const safe = stripControl(text).replace(/</g, '＜').replace(/>/g, '＞');
  return { type: 'plain_text', text: truncate(safe, max) || '—', emoji: true };
}

/**
 * A mrkdwn object. `verbatim: true` stops Slack from turning bare `@here`, `#channel` or URLs in
 * alert-provided text into mentions and links: escaping alone does not cover those.
 */
export function mrkdwn(text: string, opts: { verbatim?: boolean } = {}): MrkdwnElement {
  return { type: 'mrkdwn', text: text || '—', ...(opts.verbatim ? { verbatim: true } : {}) };
}
