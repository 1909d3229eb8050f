/**
 * Identifiers in Slack's shapes: upper-case alphanumeric ids with a type prefix (`C…` channel,
 * `U…` user, `F…` file, `V…` view, `S…` user group), message timestamps `"1732741234.000100"`
 * (seconds, a dot, six digits) that strictly increase, and trigger ids `"123.456.abcdef…"`.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function randomId(prefix: string, length = 10): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Slack's generated block_id / action_id look like short mixed-case strings ("Xq3Zp"). */
export function randomShortId(length = 5): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += chars[byte % chars.length];
  return out;
}

/** Formats microseconds since the epoch as a Slack ts. */
export function formatTs(micros: number): string {
  const seconds = Math.floor(micros / 1_000_000);
  const fraction = micros - seconds * 1_000_000;
  return `${seconds}.${String(fraction).padStart(6, '0')}`;
}

/** Parses a Slack ts into microseconds; undefined when it is not one. */
export function parseTs(ts: string): number | undefined {
  const match = /^(\d{1,12})\.(\d{6})$/.exec(ts);
  if (!match?.[1] || !match[2]) return undefined;
  return Number(match[1]) * 1_000_000 + Number(match[2]);
}

/**
 * Message timestamps: derived from the clock (microsecond part included), and strictly increasing
 * even when the clock stands still or goes back, because Slack uses a message's ts as its id.
 */
export function createTsGenerator(now: () => number = Date.now): () => string {
  let last = 0;
  return () => {
    let micros = Math.floor(now() * 1000);
    if (micros <= last) micros = last + 1;
    last = micros;
    return formatTs(micros);
  };
}

/** A trigger id as Slack hands them out with slash commands and interactions. */
export function createTriggerId(now: () => number = Date.now): string {
  return `${Math.floor(now())}.${Math.floor(Math.random() * 1e12)}.${randomHex(16)}`;
}
