/**
 * Which Slack channel an incident goes to: the first rule whose matchers all match the incident's
 * common labels, else the default channel. Matchers follow Alertmanager's: `=`, `!=`, `=~`, `!~`
 * (regexes anchored, as in Alertmanager).
 */
import { z } from 'zod';

export const matcherSchema = z
  .string()
  .regex(
    /^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*.*$/,
    'must look like label=value, label!=value, label=~regex or label!~regex',
  );

export const routeSchema = z.object({
  /** All must match. */
  match: z.array(matcherSchema).min(1),
  /** Channel name (without #) or id. */
  channel: z.string().regex(/^#?[a-z0-9][a-z0-9._-]*$|^[CG][A-Z0-9]+$/, 'must be a channel name or id'),
});

export type Route = z.infer<typeof routeSchema>;

interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  regex?: RegExp;
}

export function parseMatcher(text: string): Matcher {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m?.[1] || !m[2]) throw new Error(`bad matcher: ${text}`);
  const raw = m[3] ?? '';
  const value = raw.replace(/^"(.*)"$/, '$1');
  const op = m[2] as Matcher['op'];
  return {
    label: m[1],
    op,
    value,
    ...(op === '=~' || op === '!~' ? { regex: new RegExp(`^(?:${value})$`) } : {}),
  };
}

function matches(m: Matcher, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[m.label] ?? '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return m.regex?.test(v) ?? false;
    case '!~':
      return !(m.regex?.test(v) ?? false);
  }
}

export interface Router {
  channelFor(labels: Readonly<Record<string, string>>): string;
}

export function createRouter(routes: readonly Route[], defaultChannel: string): Router {
  const compiled = routes.map((r) => ({
    matchers: r.match.map(parseMatcher),
    channel: stripHash(r.channel),
  }));
  const fallback = stripHash(defaultChannel);
  return {
    channelFor(labels) {
      return compiled.find((r) => r.matchers.every((m) => matches(m, labels)))?.channel ?? fallback;
    },
  };
}

function stripHash(channel: string): string {
  return channel.startsWith('#') ? channel.slice(1) : channel;
}

/** The runbook's components to channels: database and cache to #qnwis-db, the rest to the default. */
export const DEFAULT_ROUTES: Route[] = [
  { match: ['service=postgres'], channel: 'qnwis-db' },
  { match: ['service=redis'], channel: 'qnwis-db' },
];
