/**
 * `/qnwis` text → a typed, validated command, or a helpful error with the verb's usage. Pure: the
 * inventory facts it checks against (host names, their logs, the cache key pattern) are passed in.
 *
 * Everything a person typed ends up either rejected here or as a typed value that is only ever
 * used as data downstream: host names must be inventory names (exactly: `аpp-01` with a Cyrillic
 * "а" is unknown), log files come from the inventory (never from the text), `--lines` is an
 * integer in range, `--grep` is a bounded string without control characters that is handed to
 * `grep -F` as one quoted argument, and a Redis pattern must lie inside the cache key space.
 */

import { InvalidArgumentError } from '../../errors.js';
import { hostsWithRole, type Inventory } from '../../inventory.js';
import { assertPatternAllowed } from '../../ops/adapters/redis.js';
import { parseDurationSec } from '../../ops/commands/catalog.js';
import { type Token, tokenize } from './tokenize.js';
import {
  AUDIT_SINCE_MAX_SEC,
  DB_VIEWS,
  type DbView,
  GREP_MAX_LENGTH,
  isVerb,
  LOG_LINES,
  REDIS_VIEWS,
  VERB_SPECS,
  VERBS,
  type Verb,
} from './usage.js';

export type QnwisCommand =
  | { readonly verb: 'help'; readonly topic: Verb | null }
  | { readonly verb: 'status' }
  | {
      readonly verb: 'logs';
      readonly host: string;
      /** Log name in the inventory (`app`, `error`, `audit`, …). */
      readonly log: string;
      readonly grep: string | null;
      readonly lines: number;
    }
  | { readonly verb: 'db'; readonly view: DbView }
  | { readonly verb: 'redis'; readonly view: 'memory' | 'stats' }
  | { readonly verb: 'redis'; readonly view: 'keys'; readonly pattern: string }
  | { readonly verb: 'security' }
  | { readonly verb: 'cert' }
  | { readonly verb: 'incidents' }
  | { readonly verb: 'incident'; readonly id: number; readonly key: string }
  | {
      readonly verb: 'postmortem';
      readonly id: number;
      readonly key: string;
      /** `--link URL`: record where the written post-mortem lives (stops its 48-h reminder). */
      readonly link?: string;
    }
  | { readonly verb: 'oncall' }
  | {
      readonly verb: 'audit';
      /** Only this Slack user's entries. */
      readonly userId: string | null;
      /** Only entries of the last this many seconds. */
      readonly sinceSec: number | null;
    };

export interface Invocation {
  readonly command: QnwisCommand;
  /** `--private`: answer ephemerally. */
  readonly private: boolean;
}

export type ParseResult =
  | { readonly ok: true; readonly invocation: Invocation }
  | {
      readonly ok: false;
      /** The verb the text was for, when it named one. */
      readonly verb: Verb | null;
      /** What is wrong, one sentence, safe to show (user text in it is quoted and shortened). */
      readonly error: string;
      /** The usage of that verb, or of every verb. */
      readonly usage: string;
      /** `--private` was present (the error is ephemeral anyway). */
      readonly private: boolean;
    };

/** What the parser checks arguments against, taken from the inventory. */
export interface ParseContext {
  /** Inventory host names, in inventory order. */
  readonly hosts: readonly string[];
  /** Host → the names of the logs its services write (`app`, `error`, `audit`; `access` on the lb). */
  readonly logsByHost: ReadonlyMap<string, readonly string[]>;
  /** `inventory.cache.keyPattern`, e.g. `qnwis:cache:*`. */
  readonly cacheKeyPattern: string;
}

/** Log names → absolute paths on a host, from the inventory's services that run there. */
export function hostLogFiles(inventory: Inventory, host: string): Map<string, string> {
  const h = inventory.hosts.get(host);
  const files = new Map<string, string>();
  if (!h) return files;
  for (const service of inventory.services.values()) {
    if (!service.roles.some((r) => h.roles.includes(r))) continue;
    for (const [name, file] of Object.entries(service.logs)) if (!files.has(name)) files.set(name, file);
  }
  return files;
}

export function parseContextFromInventory(inventory: Inventory): ParseContext {
  const hosts = [...inventory.hosts.keys()];
  return {
    hosts,
    logsByHost: new Map(hosts.map((h) => [h, [...hostLogFiles(inventory, h).keys()]])),
    cacheKeyPattern: inventory.cache.keyPattern,
  };
}

/** Hosts with at least one log, for messages. */
export function appHostNames(inventory: Inventory): string[] {
  return hostsWithRole(inventory, 'app').map((h) => h.name);
}

/** The longest slash-command text considered at all (Slack itself caps far lower in practice). */
export const MAX_TEXT_LENGTH = 4000;

// Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width joiners, soft
// hyphen) and the Unicode line/paragraph separators: none belongs in a search string or a name.
const FORBIDDEN_CHARS = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/** Shows user text inside an error message: one line, shortened, quoted. */
export function quoteForMessage(text: string, max = 40): string {
  const visible = Array.from(text.replace(FORBIDDEN_CHARS_GLOBAL, '\ufffd'));
  const short = visible.length > max ? `${visible.slice(0, max - 1).join('')}…` : visible.join('');
  return `"${short}"`;
}
const FORBIDDEN_CHARS_GLOBAL = new RegExp(FORBIDDEN_CHARS.source, 'gu');
/** In `u` mode a surrogate range matches only unpaired halves (a pair is one code point). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

class UsageError extends Error {
  readonly verb: Verb | null;
  constructor(verb: Verb | null, message: string) {
    super(message);
    this.verb = verb;
  }
}

export function usageOf(verb: Verb | null): string {
  if (verb) return VERB_SPECS[verb].usage;
  return VERBS.map((v) => VERB_SPECS[v].usage).join('\n');
}

/** A cursor over the tokens after the verb, with `--private` already removed. */
class Args {
  private readonly tokens: Token[];
  private readonly verb: Verb;
  constructor(verb: Verb, tokens: Token[]) {
    this.verb = verb;
    this.tokens = tokens;
  }
  peek(): Token | undefined {
    return this.tokens[0];
  }
  next(): Token | undefined {
    return this.tokens.shift();
  }
  /** Removes `--name VALUE` / `--name=VALUE` and returns VALUE (undefined when absent). */
  takeFlag(name: string): string | undefined {
    let found: string | undefined;
    for (let i = 0; i < this.tokens.length; ) {
      const t = this.tokens[i] as Token;
      let value: string | undefined;
      let consumed = 0;
      if (!t.quoted && t.value === `--${name}`) {
        const v = this.tokens[i + 1];
        if (v === undefined || (!v.quoted && v.value.startsWith('--'))) {
          throw new UsageError(this.verb, `--${name} needs a value`);
        }
        value = v.value;
        consumed = 2;
      } else if (!t.quoted && t.value.startsWith(`--${name}=`)) {
        value = t.value.slice(name.length + 3);
        consumed = 1;
      }
      if (consumed === 0) {
        i++;
        continue;
      }
      if (found !== undefined) throw new UsageError(this.verb, `--${name} is given more than once`);
      found = value;
      this.tokens.splice(i, consumed);
    }
    return found;
  }
  /** Fails on anything left over: an unknown flag or an extra word. */
  done(): void {
    const extra = this.tokens[0];
    if (!extra) return;
    if (!extra.quoted && extra.value.startsWith('-')) {
      throw new UsageError(this.verb, `unknown option ${quoteForMessage(extra.value)}`);
    }
    throw new UsageError(this.verb, `unexpected argument ${quoteForMessage(extra.value)}`);
  }
}

export function parseQnwisCommand(text: string, ctx: ParseContext): ParseResult {
  let priv = false;
  try {
    if (text.length > MAX_TEXT_LENGTH) {
      throw new UsageError(
        null,
        `the command is ${text.length} characters long (at most ${MAX_TEXT_LENGTH})`,
      );
    }
    const tokenized = tokenize(text);
    if (!tokenized.ok) throw new UsageError(null, tokenized.error);
    const tokens = [...tokenized.tokens];
    // --private is global: anywhere, once.
    const privateAt = tokens
      .map((t, i) => (!t.quoted && t.value === '--private' ? i : -1))
      .filter((i) => i >= 0);
    priv = privateAt.length > 0;
    for (const i of privateAt.reverse()) tokens.splice(i, 1);
    if (privateAt.length > 1) throw new UsageError(null, '--private is given more than once');

    const first = tokens.shift();
    if (!first) return ok({ verb: 'help', topic: null }, priv);
    const word = first.value.toLowerCase();
    if (first.quoted || !isVerb(word)) {
      throw new UsageError(null, `unknown command ${quoteForMessage(first.value)}`);
    }
    const args = new Args(word, tokens);
    return ok(parseVerb(word, args, ctx), priv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { ok: false, verb: err.verb, error: err.message, usage: usageOf(err.verb), private: priv };
  }
}

function ok(command: QnwisCommand, priv: boolean): ParseResult {
  return { ok: true, invocation: { command, private: priv } };
}

function parseVerb(verb: Verb, args: Args, ctx: ParseContext): QnwisCommand {
  switch (verb) {
    case 'help': {
      const t = args.next();
      args.done();
      if (!t) return { verb: 'help', topic: null };
      const topic = t.value.toLowerCase();
      if (!isVerb(topic)) throw new UsageError('help', `there is no verb ${quoteForMessage(t.value)}`);
      return { verb: 'help', topic };
    }
    case 'status':
    case 'security':
    case 'cert':
    case 'incidents':
    case 'oncall':
      args.done();
      return { verb };
    case 'logs':
      return parseLogs(args, ctx);
    case 'db': {
      const t = args.next();
      if (!t) throw new UsageError('db', `say which view: ${DB_VIEWS.join(', ')}`);
      const view = t.value.toLowerCase();
      if (!(DB_VIEWS as readonly string[]).includes(view)) {
        throw new UsageError('db', `unknown view ${quoteForMessage(t.value)}; one of ${DB_VIEWS.join(', ')}`);
      }
      args.done();
      return { verb: 'db', view: view as DbView };
    }
    case 'redis': {
      const t = args.next();
      if (!t) throw new UsageError('redis', `say which view: ${REDIS_VIEWS.join(', ')}`);
      const view = t.value.toLowerCase();
      if (view === 'memory' || view === 'stats') {
        args.done();
        return { verb: 'redis', view };
      }
      if (view !== 'keys') {
        throw new UsageError(
          'redis',
          `unknown view ${quoteForMessage(t.value)}; one of ${REDIS_VIEWS.join(', ')}`,
        );
      }
      const p = args.next();
      args.done();
      const pattern = p?.value ?? ctx.cacheKeyPattern;
      checkText('redis', 'the pattern', pattern, 512);
      try {
        assertPatternAllowed(pattern, ctx.cacheKeyPattern);
      } catch {
        throw new UsageError(
          'redis',
          `the pattern ${quoteForMessage(pattern)} is outside the cache key space: it must start with "${ctx.cacheKeyPattern.slice(0, -1)}" (e.g. '${ctx.cacheKeyPattern}')`,
        );
      }
      return { verb: 'redis', view: 'keys', pattern };
    }
    case 'incident':
    case 'postmortem': {
      const link = verb === 'postmortem' ? args.takeFlag('link') : undefined;
      if (link !== undefined && !/^https?:\/\/[^\s<>|]{1,1990}$/i.test(link))
        throw new UsageError(
          verb,
          `--link must be an http(s) URL without spaces (got ${quoteForMessage(link.slice(0, 80))})`,
        );
      const t = args.next();
      if (!t) throw new UsageError(verb, 'say which incident, e.g. QNWIS-42');
      args.done();
      const m = /^(?:qnwis-)?(\d{1,9})$/i.exec(t.value);
      const id = m?.[1] ? Number(m[1]) : 0;
      if (!m || id < 1) {
        throw new UsageError(verb, `${quoteForMessage(t.value)} is not an incident id (QNWIS-42 or 42)`);
      }
      return { verb, id, key: `QNWIS-${id}`, ...(link !== undefined ? { link } : {}) } as QnwisCommand;
    }
    case 'audit':
      return parseAudit(args);
    default: {
      const never: never = verb;
      throw new UsageError(null, `unknown command ${quoteForMessage(String(never))}`);
    }
  }
}

function parseLogs(args: Args, ctx: ParseContext): QnwisCommand {
  const grep = args.takeFlag('grep');
  const linesText = args.takeFlag('lines');
  rejectOption(args);
  const hostToken = args.next();
  if (!hostToken) throw new UsageError('logs', `say which host: ${hostsWithLogs(ctx).join(', ')}`);
  const host = hostToken.value;
  if (!ctx.hosts.includes(host)) {
    const hint = suggestHost(host, ctx.hosts);
    throw new UsageError(
      'logs',
      `unknown host ${quoteForMessage(host)}${hint ? ` (did you mean ${hint}?)` : ''}; hosts with logs: ${hostsWithLogs(ctx).join(', ')}`,
    );
  }
  const logs = ctx.logsByHost.get(host) ?? [];
  if (logs.length === 0) {
    throw new UsageError(
      'logs',
      `${host} has no logs in the inventory; hosts with logs: ${hostsWithLogs(ctx).join(', ')}`,
    );
  }
  let log = logs.includes('app') ? 'app' : (logs[0] as string);
  rejectOption(args);
  const logToken = args.next();
  if (logToken) {
    const name = logToken.value.toLowerCase();
    if (!logs.includes(name)) {
      throw new UsageError(
        'logs',
        `${host} has no log ${quoteForMessage(logToken.value)}; its logs: ${logs.join(', ')}`,
      );
    }
    log = name;
  }
  args.done();
  let lines: number = LOG_LINES.default;
  if (linesText !== undefined) {
    if (!/^\d{1,7}$/.test(linesText)) {
      throw new UsageError('logs', `--lines must be a whole number ${LOG_LINES.min}..${LOG_LINES.max}`);
    }
    lines = Number(linesText);
    if (lines < LOG_LINES.min || lines > LOG_LINES.max) {
      throw new UsageError('logs', `--lines must be ${LOG_LINES.min}..${LOG_LINES.max} (got ${lines})`);
    }
  }
  if (grep !== undefined) {
    if (grep.length === 0) throw new UsageError('logs', '--grep needs some text to search for');
    checkText('logs', '--grep text', grep, GREP_MAX_LENGTH);
  }
  return { verb: 'logs', host, log, grep: grep ?? null, lines };
}

function parseAudit(args: Args): QnwisCommand {
  const user = args.takeFlag('user');
  const since = args.takeFlag('since');
  args.done();
  let userId: string | null = null;
  if (user !== undefined) {
    userId = slackUserId(user);
    if (!userId) {
      throw new UsageError(
        'audit',
        `--user ${quoteForMessage(user)} is not a Slack user: mention them (@name) or give their id (U…)`,
      );
    }
  }
  let sinceSec: number | null = null;
  if (since !== undefined) {
    try {
      sinceSec = parseDurationSec(since, '--since', 60, AUDIT_SINCE_MAX_SEC);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new UsageError('audit', err.message);
      throw err;
    }
  }
  return { verb: 'audit', userId, sinceSec };
}

/**
 * A Slack user id from a mention as Slack sends it (`<@U0ONCALL01>`, `<@U0ONCALL01|oncall>`),
 * `@U0ONCALL01` or the bare id; null for anything else (a plain `@name` cannot be resolved here).
 */
export function slackUserId(text: string): string | null {
  const m = /^(?:<@([UW][A-Z0-9]{2,30})(?:\|[^<>]{0,80})?>|@?([UW][A-Z0-9]{2,30}))$/.exec(text);
  return m?.[1] ?? m?.[2] ?? null;
}

/** An unquoted word starting with "-" where a value is expected: an option we do not know. */
function rejectOption(args: Args): void {
  const t = args.peek();
  if (t && !t.quoted && t.value.startsWith('-')) args.done();
}

/** Length, well-formedness and no control or format characters. */
function checkText(verb: Verb, what: string, value: string, max: number): void {
  if (value.length > max)
    throw new UsageError(verb, `${what} is ${value.length} characters long (at most ${max})`);
  if (LONE_SURROGATE.test(value)) throw new UsageError(verb, `${what} is not valid Unicode text`);
  if (FORBIDDEN_CHARS.test(value)) {
    throw new UsageError(verb, `${what} contains control or invisible characters (newline, NUL, bidi…)`);
  }
}

function hostsWithLogs(ctx: ParseContext): string[] {
  return ctx.hosts.filter((h) => (ctx.logsByHost.get(h) ?? []).length > 0);
}

/** A look-alike or differently-cased spelling of an inventory name, for a hint only (never used). */
function suggestHost(typed: string, hosts: readonly string[]): string | undefined {
  const folded = typed.normalize('NFKC').toLowerCase();
  const exact = hosts.find((h) => h === folded);
  if (exact) return exact;
  // Latin look-alikes of the characters host names use (Cyrillic а е о р с х у, Greek ο α …).
  const latin = folded.replace(/[аеорсхуіјοαε]/gu, (c) => LOOK_ALIKES[c] ?? c);
  return hosts.find((h) => h === latin);
}

const LOOK_ALIKES: Readonly<Record<string, string>> = {
  а: 'a',
  е: 'e',
  о: 'o',
  р: 'p',
  с: 'c',
  х: 'x',
  у: 'y',
  і: 'i',
  ј: 'j',
  ο: 'o',
  α: 'a',
  ε: 'e',
};
