/**
 * The command catalog of "Act with approval" (issue 6, item 1), as pure metadata: each runbook fix's
 * name, its arguments (a zod schema built against the inventory), its risk, whether it is
 * destructive, what it targets and which approval rule it falls under. No I/O: planning, running
 * and verifying a command live in one module per command beside this file (other work), and the
 * approval policy itself lives in src/incidents/approvals.ts.
 *
 * Arguments are validated here, once, before anything else sees them, and come out resolved
 * (defaults filled in) so the plan hash covers exactly what will run:
 * - host names must be the inventory's exact names with the right role (`аpp-01` with a Cyrillic
 *   "а" is unknown; the refusal lists the valid ones); never free text;
 * - cache keys and patterns must lie inside `inventory.cache.keyPattern` (the redis adapter's pure
 *   fences) and use a conservative character set; a pattern must narrow the key space (the whole
 *   cache is `flushdb`, which needs two approvals);
 * - table and database names must be plain lower-case identifiers;
 * - numbers are integers in range (from a number or a string of digits);
 * - the one free-text argument (the maintenance message, shown to users of the app) is one line,
 *   bounded, without control or invisible characters or `` ` $ < > \ ``; it is only ever sent as
 *   data (a JSON body, an Alertmanager comment), never through a shell.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../../errors.js';
import {
  type ApprovalPolicy,
  type ApprovalRule,
  type ApprovalRuleKey,
  DEFAULT_APPROVAL_POLICY,
  describeRule,
  type Target,
} from '../../incidents/approvals.js';
import type { HostRole } from '../../inventory.js';
import { assertKeyAllowed, assertPatternAllowed, cacheKeyPrefix } from '../adapters/redis.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary

export const COMMAND_NAMES = [
  'restart',
  'rolling-restart',
  'restart-redis',
  'kill-query',
  'flush-cache',
  'flushdb',
  'warm-cache',
  'maintenance',
  'vacuum-analyze',
  'reindex',
  'analyze',
  'backup',
  'verify-backup',
  'cert-renew',
  'failover',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const RISKS = ['low', 'medium', 'high', 'critical'] as const;
export type Risk = (typeof RISKS)[number];

export function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

/** What the catalog needs from the inventory (src/inventory.ts's `Inventory` satisfies it). */
export interface CatalogInventory {
  readonly hosts: ReadonlyMap<string, { readonly roles: readonly HostRole[] }>;
  readonly database: { readonly name: string; readonly scratchDatabase: string | undefined };
  readonly cache: { readonly keyPattern: string };
}

// ---------------------------------------------------------------------------------------------
// Argument checkers (each throws InvalidArgumentError with a sentence a person can act on)

// Control (C0, DEL, C1) and format characters (bidi overrides, zero-width), line separators.
const FORBIDDEN_CHARS = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const FORBIDDEN_CHARS_GLOBAL = new RegExp(FORBIDDEN_CHARS.source, 'gu');
/** In `u` mode a surrogate range matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** User text inside a message: one line, at most `max` characters, quoted. */
export function quoteArg(text: string, max = 40): string {
  const visible = Array.from(text.replace(FORBIDDEN_CHARS_GLOBAL, '\ufffd'));
  return `"${visible.length > max ? `${visible.slice(0, max - 1).join('')}…` : visible.join('')}"`;
}

function text(value: unknown, what: string, max: number): string {
  if (value === undefined || value === null) throw new InvalidArgumentError(`${what} is required`);
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be text`);
  if (value.length === 0) throw new InvalidArgumentError(`${what} is empty`);
  if (value.length > max) throw new InvalidArgumentError(`${what} is longer than ${max} characters`);
  if (FORBIDDEN_CHARS.test(value) || LONE_SURROGATE.test(value))
    throw new InvalidArgumentError(`${what} ${quoteArg(value)} contains control or invisible characters`);
  return value;
}

const ROLE_NOUNS: Readonly<Record<HostRole, string>> = {
  app: 'app host',
  'db-primary': 'database primary',
  'db-replica': 'database replica',
  redis: 'redis host',
  lb: 'load balancer',
};
const withArticle = (noun: string) => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`);

/** Inventory host names with `role`, in inventory order. */
export function hostsWithRoleIn(inv: CatalogInventory, role: HostRole): string[] {
  return [...inv.hosts].filter(([, h]) => h.roles.includes(role)).map(([name]) => name);
}

function validHosts(inv: CatalogInventory, role: HostRole): string {
  const names = hostsWithRoleIn(inv, role);
  return names.length === 0
    ? `the inventory has no ${ROLE_NOUNS[role]}`
    : `${ROLE_NOUNS[role]}s: ${names.join(', ')}`;
}

function host(value: unknown, inv: CatalogInventory, role: HostRole, what = 'host'): string {
  const name = text(value, what, 64);
  const h = inv.hosts.get(name);
  if (h?.roles.includes(role)) return name;
  throw new InvalidArgumentError(
    h
      ? `${quoteArg(name)} is not ${withArticle(ROLE_NOUNS[role])}; ${validHosts(inv, role)}`
      : `unknown host ${quoteArg(name)}; ${validHosts(inv, role)}`,
  );
}

/** The only host with `role`, or the refusal asking to name one. */
function soleHost(inv: CatalogInventory, role: HostRole, what: string): string {
  const names = hostsWithRoleIn(inv, role);
  if (names.length === 1 && names[0] !== undefined) return names[0];
  throw new InvalidArgumentError(
    names.length === 0
      ? `the inventory has no ${ROLE_NOUNS[role]}`
      : `name the ${what}: ${validHosts(inv, role)}`,
  );
}

function integer(value: unknown, what: string, min: number, max: number): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[0-9]{1,10}$/.test(value)) n = Number(value);
  else if (typeof value === 'string')
    throw new InvalidArgumentError(`${what} ${quoteArg(value)} is not a whole number`);
  else throw new InvalidArgumentError(`${what} must be a whole number`);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`);
  return n;
}

const DURATION = /^([1-9][0-9]{0,3})(s|m|min|h|d)$/;
const UNIT_SEC: Readonly<Record<string, number>> = { s: 1, m: 60, min: 60, h: 3600, d: 86400 };

/** `90m`, `2h`, `1d` or a number of seconds → seconds, within [minSec, maxSec]. */
export function parseDurationSec(value: unknown, what: string, minSec: number, maxSec: number): number {
  let sec: number;
  if (typeof value === 'number') sec = value;
  else if (typeof value === 'string') {
    const m = DURATION.exec(value);
    if (!m?.[1] || !m[2])
      throw new InvalidArgumentError(`${what} ${quoteArg(value)} is not a duration like 30m, 2h or 1d`);
    sec = Number(m[1]) * (UNIT_SEC[m[2]] ?? Number.NaN);
  } else throw new InvalidArgumentError(`${what} must be a duration like 30m, 2h or 1d`);
  if (!Number.isSafeInteger(sec) || sec < minSec || sec > maxSec)
    throw new InvalidArgumentError(`${what} must be between ${formatSec(minSec)} and ${formatSec(maxSec)}`);
  return sec;
}

/** 7200 → "2h", 5400 → "90m", 45 → "45s". */
export function formatSec(sec: number): string {
  if (sec % 86400 === 0) return `${sec / 86400}d`;
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

/** Lower-case identifier, optionally schema-qualified; no system schemas. */
const TABLE_NAME = /^(?:([a-z_][a-z0-9_]{0,62})\.)?([a-z_][a-z0-9_]{0,62})$/;
const SYSTEM_SCHEMA = /^(pg_|information_schema$)/;

function table(value: unknown, what = 'table'): string {
  const name = text(value, what, 127);
  const m = TABLE_NAME.exec(name);
  if (!m)
    throw new InvalidArgumentError(
      `${what} ${quoteArg(name)} is not a plain table name (lower-case letters, digits and "_", optionally "schema.table")`,
    );
  if (m[1] && SYSTEM_SCHEMA.test(m[1]))
    throw new InvalidArgumentError(`${what} ${quoteArg(name)} is in a system schema`);
  return name;
}

const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const SYSTEM_DATABASES: readonly string[] = ['postgres', 'template0', 'template1'];

function database(value: unknown, what: string): string {
  const name = text(value, what, 63);
  if (!DATABASE_NAME.test(name))
    throw new InvalidArgumentError(
      `${what} ${quoteArg(name)} is not a plain database name (lower-case letters, digits and "_")`,
    );
  if (SYSTEM_DATABASES.includes(name))
    throw new InvalidArgumentError(`${what} ${quoteArg(name)} is a system database`);
  return name;
}

/** Characters a cache key may use here (stricter than the adapter's fence, which stays the authority). */
const CACHE_KEY_CHARS = /^[A-Za-z0-9:_.@=+,-]+$/;
/** The same plus Redis glob syntax (`*`, `?`, `[…]`, `^` for negation); no `\` escapes. */
const CACHE_PATTERN_CHARS = /^[A-Za-z0-9:_.@=+,*?[\]^-]+$/;
const KEY_CHARS_TEXT = 'letters, digits and : _ . - @ = + ,';

function cacheKey(value: unknown, inv: CatalogInventory): string {
  const key = text(value, 'key', 512);
  if (!key.startsWith(cacheKeyPrefix(inv.cache.keyPattern)))
    throw new InvalidArgumentError(
      `key ${quoteArg(key)} is outside the cache key space ${inv.cache.keyPattern}`,
    );
  assertKeyAllowed(key, inv.cache.keyPattern);
  if (!CACHE_KEY_CHARS.test(key))
    throw new InvalidArgumentError(`key ${quoteArg(key)} may only contain ${KEY_CHARS_TEXT}`);
  return key;
}

function cachePattern(value: unknown, inv: CatalogInventory): string {
  const pattern = text(value, 'pattern', 512);
  if (!pattern.startsWith(cacheKeyPrefix(inv.cache.keyPattern)))
    throw new InvalidArgumentError(
      `pattern ${quoteArg(pattern)} is outside the cache key space ${inv.cache.keyPattern}`,
    );
  assertPatternAllowed(pattern, inv.cache.keyPattern);
  if (!CACHE_PATTERN_CHARS.test(pattern))
    throw new InvalidArgumentError(
      `pattern ${quoteArg(pattern)} may only contain ${KEY_CHARS_TEXT} and the globs * ? [ ] ^`,
    );
  const rest = pattern.slice(cacheKeyPrefix(inv.cache.keyPattern).length);
  if (rest.length === 0 || /^[*?[\]^]/.test(rest))
    throw new InvalidArgumentError(
      `pattern ${quoteArg(pattern)} spans the whole cache key space ${inv.cache.keyPattern}; ` +
        'narrow it (e.g. qnwis:cache:query:*) or use flushdb',
    );
  return pattern;
}

const MESSAGE_MAX = 200;
/** Not needed in a notice, and each has a meaning somewhere a message travels (shell, Slack mrkdwn). */
const MESSAGE_FORBIDDEN = /[`$<>\\]/;

function message(value: unknown): string {
  const raw = text(value, 'message', MESSAGE_MAX);
  const msg = raw.trim();
  if (msg.length === 0) throw new InvalidArgumentError('message is empty');
  if (MESSAGE_FORBIDDEN.test(msg))
    throw new InvalidArgumentError(
      'message may not contain ` $ < > or \\ (it is shown to every user of the app)',
    );
  return msg;
}

/** A zod argument from a checker: `undefined` (absent) reaches the checker, which applies defaults. */
function arg<T>(check: (value: unknown) => T) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx): T => {
      try {
        return check(value);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
        return z.NEVER;
      }
    });
}

// ---------------------------------------------------------------------------------------------
// Argument schemas, one per command (input: what a parser or a button produced; output: resolved)

export const ROLLING_WAIT_SEC = { min: 5, max: 600, default: 30 } as const;
export const FLUSH_PATTERN_MAX_KEYS = { min: 1, max: 10_000, default: 1_000 } as const;
export const MAINTENANCE_FOR_SEC = { min: 5 * 60, max: 24 * 3600, default: 3600 } as const;
/** Linux's largest pid_max. */
const PID_MAX = 4_194_304;

function hostList(value: unknown, inv: CatalogInventory, role: HostRole): string[] {
  if (value === undefined) {
    const all = hostsWithRoleIn(inv, role);
    if (all.length === 0) throw new InvalidArgumentError(`the inventory has no ${ROLE_NOUNS[role]}`);
    return all;
  }
  if (!Array.isArray(value)) throw new InvalidArgumentError('hosts must be a list of host names');
  if (value.length === 0) throw new InvalidArgumentError('hosts is empty; leave it out for every app host');
  if (value.length > inv.hosts.size) throw new InvalidArgumentError('hosts names more hosts than exist');
  const out: string[] = [];
  for (const v of value) {
    const name = host(v, inv, role);
    if (out.includes(name)) throw new InvalidArgumentError(`hosts names ${quoteArg(name)} twice`);
    out.push(name);
  }
  return out;
}

const argSchemas = {
  restart: (inv: CatalogInventory) => z.strictObject({ host: arg((v) => host(v, inv, 'app')) }),
  'rolling-restart': (inv: CatalogInventory) =>
    z
      .strictObject({
        /** In the order given (default: every app host, inventory order). */
        hosts: arg((v) => hostList(v, inv, 'app')),
        /** Pause after each host before its health gate (`45s`, `2m`, or seconds). */
        wait: arg((v) =>
          v === undefined
            ? ROLLING_WAIT_SEC.default
            : parseDurationSec(v, 'wait', ROLLING_WAIT_SEC.min, ROLLING_WAIT_SEC.max),
        ),
      })
      .transform((a) => ({ hosts: a.hosts, waitSec: a.wait })),
  'restart-redis': (inv: CatalogInventory) => z.strictObject({ host: arg((v) => host(v, inv, 'redis')) }),
  'kill-query': (_inv: CatalogInventory) =>
    z.strictObject({ pid: arg((v) => integer(v, 'pid', 1, PID_MAX)) }),
  'flush-cache': (inv: CatalogInventory) =>
    z
      .strictObject({
        key: arg((v) => (v === undefined ? null : cacheKey(v, inv))),
        pattern: arg((v) => (v === undefined ? null : cachePattern(v, inv))),
        maxKeys: arg((v) =>
          v === undefined
            ? null
            : integer(v, 'maxKeys', FLUSH_PATTERN_MAX_KEYS.min, FLUSH_PATTERN_MAX_KEYS.max),
        ),
      })
      .transform((a, ctx) => {
        if ((a.key === null) === (a.pattern === null)) {
          ctx.addIssue({ code: 'custom', message: 'give exactly one of key or pattern' });
          return z.NEVER;
        }
        if (a.key !== null) {
          if (a.maxKeys !== null) {
            ctx.addIssue({ code: 'custom', path: ['maxKeys'], message: 'maxKeys only applies to a pattern' });
            return z.NEVER;
          }
          return { kind: 'key' as const, key: a.key };
        }
        return {
          kind: 'pattern' as const,
          pattern: a.pattern ?? '',
          /** The most keys one run may delete (SCAN + DEL stops there). */
          maxKeys: a.maxKeys ?? FLUSH_PATTERN_MAX_KEYS.default,
        };
      }),
  flushdb: (_inv: CatalogInventory) => z.strictObject({}),
  'warm-cache': (inv: CatalogInventory) =>
    z.strictObject({
      /** The app host that runs the warm-up (default: the first app host). */
      host: arg((v) => {
        if (v !== undefined) return host(v, inv, 'app');
        const first = hostsWithRoleIn(inv, 'app')[0];
        if (first === undefined) throw new InvalidArgumentError('the inventory has no app host');
        return first;
      }),
    }),
  maintenance: (_inv: CatalogInventory) =>
    z
      .discriminatedUnion(
        'mode',
        [
          z.strictObject({
            mode: z.literal('on'),
            message: arg(message),
            /** How long the maintenance (and its Alertmanager silence) lasts unless turned off. */
            for: arg((v) =>
              v === undefined
                ? MAINTENANCE_FOR_SEC.default
                : parseDurationSec(v, 'for', MAINTENANCE_FOR_SEC.min, MAINTENANCE_FOR_SEC.max),
            ),
          }),
          z.strictObject({ mode: z.literal('off') }),
        ],
        { error: 'mode must be "on" or "off"' },
      )
      .transform((a) =>
        a.mode === 'on'
          ? { mode: 'on' as const, message: a.message, forSec: a.for }
          : { mode: 'off' as const },
      ),
  'vacuum-analyze': (_inv: CatalogInventory) =>
    z.strictObject({ table: arg((v) => (v === undefined ? null : table(v))) }),
  reindex: (_inv: CatalogInventory) => z.strictObject({ table: arg((v) => table(v)) }),
  analyze: (_inv: CatalogInventory) => z.strictObject({ table: arg((v) => table(v)) }),
  backup: (_inv: CatalogInventory) => z.strictObject({}),
  'verify-backup': (inv: CatalogInventory) =>
    z.strictObject({
      /** The database the newest backup is restored into (default: the inventory's scratch database). */
      into: arg((v) => {
        if (v !== undefined) return database(v, 'into');
        if (inv.database.scratchDatabase) return inv.database.scratchDatabase;
        throw new InvalidArgumentError(
          'the inventory names no scratch database (database.scratch_database): name the target with into',
        );
      }),
    }),
  'cert-renew': (_inv: CatalogInventory) => z.strictObject({}),
  failover: (inv: CatalogInventory) =>
    z.strictObject({
      /** The replica to promote (default: the only one). */
      to: arg((v) =>
        v === undefined ? soleHost(inv, 'db-replica', 'replica') : host(v, inv, 'db-replica', 'to'),
      ),
      /** Promote even if the primary still answers (the precheck otherwise refuses). */
      force: arg((v) => {
        if (v === undefined) return false;
        if (typeof v === 'boolean') return v;
        throw new InvalidArgumentError('force must be true or false');
      }),
    }),
} as const satisfies Record<CommandName, (inv: CatalogInventory) => z.ZodType>;

export type CommandArgs = { [N in CommandName]: z.output<ReturnType<(typeof argSchemas)[N]>> };
/** What a parser or button may hand in, per command (values are checked, so `unknown`). */
export type CommandInput = { [N in CommandName]: z.input<ReturnType<(typeof argSchemas)[N]>> };

/** A parsed command: its name and resolved arguments. */
export type ParsedCommand<N extends CommandName = CommandName> = {
  [K in N]: { readonly name: K; readonly args: CommandArgs[K] };
}[N];

// ---------------------------------------------------------------------------------------------
// The catalog

/**
 * Positional words fill `positional` keys in order (with `variadic`, the last key takes the rest as
 * a list); `--flag value` fills `flags[flag].key` (a boolean flag takes no value and means true).
 */
export interface CommandSyntax {
  readonly positional: readonly string[];
  readonly variadic?: true;
  readonly flags: Readonly<Record<string, { readonly key: string; readonly boolean?: true }>>;
}

export interface CommandSpec<N extends CommandName> {
  readonly name: N;
  /** One line for help and the approval message. */
  readonly summary: string;
  /** How to type it after `/qnwis`. */
  readonly usage: string;
  /** How typed words map to argument keys (for the slash-command parser). */
  readonly syntax: CommandSyntax;
  /** Baseline risk (see `riskOf` for the arguments that raise it). */
  readonly risk: Risk;
  /**
   * Claimed (in Postgres) before its first step, and never run again by a retry: a worker that dies
   * mid-way leaves it "interrupted" for an operator. See `isDestructive` for argument-dependent cases.
   */
  readonly destructive: boolean;
  readonly args: (inv: CatalogInventory) => z.ZodType<CommandArgs[N], CommandInput[N]>;
  /** The approval rule key (the policy maps it to a rule). */
  readonly approval: (args: CommandArgs[N], inv: CatalogInventory) => ApprovalRuleKey;
  /** What it touches, as resource paths: an open request on an overlapping path blocks a new one. */
  readonly targets: (args: CommandArgs[N], inv: CatalogInventory) => Target[];
  /** "restart app-02". */
  readonly describe: (args: CommandArgs[N]) => string;
  /** Risk and destructiveness raised by the arguments. */
  readonly raise?: (args: CommandArgs[N], inv: CatalogInventory) => { risk?: Risk; destructive?: boolean };
}

const dbTarget = (inv: CatalogInventory): Target => ['db', inv.database.name];
const hostTarget = (name: string): Target => ['host', name];
const isScratch = (into: string, inv: CatalogInventory) =>
  inv.database.scratchDatabase !== undefined && into === inv.database.scratchDatabase;

export const CATALOG: { readonly [N in CommandName]: CommandSpec<N> } = {
  restart: {
    name: 'restart',
    summary: 'Restart the app on one host (systemctl restart), then wait for its health check',
    usage: 'restart HOST',
    syntax: { positional: ['host'], flags: {} },
    risk: 'medium',
    destructive: false,
    args: argSchemas.restart,
    approval: () => 'restart',
    targets: (a) => [hostTarget(a.host)],
    describe: (a) => `restart ${a.host}`,
  },
  'rolling-restart': {
    name: 'rolling-restart',
    summary: 'Restart the app on each host in turn, halting at the first unhealthy one',
    usage: 'rolling-restart [HOST…] [--wait 30s]',
    syntax: { positional: ['hosts'], variadic: true, flags: { '--wait': { key: 'wait' } } },
    risk: 'high',
    destructive: true,
    args: argSchemas['rolling-restart'],
    approval: () => 'rolling-restart',
    targets: (a) => a.hosts.map(hostTarget),
    describe: (a) => `rolling-restart ${a.hosts.join(', ')} (wait ${a.waitSec}s)`,
  },
  'restart-redis': {
    name: 'restart-redis',
    summary: 'Restart Redis on one host',
    usage: 'restart-redis HOST',
    syntax: { positional: ['host'], flags: {} },
    risk: 'high',
    destructive: true,
    args: argSchemas['restart-redis'],
    approval: () => 'restart-redis',
    targets: (a) => [hostTarget(a.host)],
    describe: (a) => `restart-redis ${a.host}`,
  },
  'kill-query': {
    name: 'kill-query',
    summary: 'Terminate one database backend, if it still runs the same query',
    usage: 'kill-query PID',
    syntax: { positional: ['pid'], flags: {} },
    risk: 'medium',
    destructive: false,
    args: argSchemas['kill-query'],
    approval: () => 'kill-query',
    targets: (a, inv) => [[...dbTarget(inv), 'backend', String(a.pid)]],
    describe: (a) => `kill-query ${a.pid}`,
  },
  'flush-cache': {
    name: 'flush-cache',
    summary: 'Delete one cache key, or the keys matching a pattern (SCAN + DEL, capped)',
    usage: 'flush-cache KEY | flush-cache --pattern PATTERN [--max-keys 1000]',
    syntax: {
      positional: ['key'],
      flags: { '--pattern': { key: 'pattern' }, '--max-keys': { key: 'maxKeys' } },
    },
    risk: 'low',
    destructive: false,
    args: argSchemas['flush-cache'],
    approval: (a) => (a.kind === 'key' ? 'flush-cache:key' : 'flush-cache:pattern'),
    targets: (a) => [a.kind === 'key' ? ['cache', 'key', a.key] : ['cache', 'pattern', a.pattern]],
    describe: (a) => (a.kind === 'key' ? `flush-cache ${a.key}` : `flush-cache --pattern ${a.pattern}`),
    raise: (a) => (a.kind === 'pattern' ? { risk: 'medium' } : {}),
  },
  flushdb: {
    name: 'flushdb',
    summary: 'Empty the whole cache database (FLUSHDB)',
    usage: 'flushdb',
    syntax: { positional: [], flags: {} },
    risk: 'critical',
    destructive: true,
    args: argSchemas.flushdb,
    approval: () => 'flushdb',
    targets: () => [['cache']],
    describe: () => 'flushdb',
  },
  'warm-cache': {
    name: 'warm-cache',
    summary: 'Run the cache warm-up (scripts/warm_cache.py) on an app host',
    usage: 'warm-cache [HOST]',
    syntax: { positional: ['host'], flags: {} },
    risk: 'low',
    destructive: false,
    args: argSchemas['warm-cache'],
    approval: () => 'warm-cache',
    targets: () => [['cache', 'warm']],
    describe: (a) => `warm-cache on ${a.host}`,
  },
  maintenance: {
    name: 'maintenance',
    summary: "Turn the app's maintenance mode on (with an expiring alert silence) or off",
    usage: 'maintenance on "MESSAGE" [--for 2h] | maintenance off',
    syntax: { positional: ['mode', 'message'], flags: { '--for': { key: 'for' } } },
    risk: 'medium',
    destructive: false,
    args: argSchemas.maintenance,
    approval: () => 'maintenance',
    targets: () => [['maintenance']],
    describe: (a) =>
      a.mode === 'on'
        ? `maintenance on for ${formatSec(a.forSec)}: ${quoteArg(a.message, 60)}`
        : 'maintenance off',
  },
  'vacuum-analyze': {
    name: 'vacuum-analyze',
    summary: 'VACUUM ANALYZE one table, or the whole database',
    usage: 'vacuum-analyze [TABLE]',
    syntax: { positional: ['table'], flags: {} },
    risk: 'medium',
    destructive: false,
    args: argSchemas['vacuum-analyze'],
    approval: () => 'vacuum-analyze',
    targets: (a, inv) => [
      a.table === null ? [...dbTarget(inv), 'tables'] : [...dbTarget(inv), 'tables', a.table],
    ],
    describe: (a) => (a.table === null ? 'vacuum-analyze (every table)' : `vacuum-analyze ${a.table}`),
  },
  reindex: {
    name: 'reindex',
    summary: 'REINDEX one table',
    usage: 'reindex TABLE',
    syntax: { positional: ['table'], flags: {} },
    risk: 'high',
    destructive: false,
    args: argSchemas.reindex,
    approval: () => 'reindex',
    targets: (a, inv) => [[...dbTarget(inv), 'tables', a.table]],
    describe: (a) => `reindex ${a.table}`,
  },
  analyze: {
    name: 'analyze',
    summary: 'ANALYZE one table (refresh planner statistics)',
    usage: 'analyze TABLE',
    syntax: { positional: ['table'], flags: {} },
    risk: 'low',
    destructive: false,
    args: argSchemas.analyze,
    approval: () => 'analyze',
    targets: (a, inv) => [[...dbTarget(inv), 'tables', a.table]],
    describe: (a) => `analyze ${a.table}`,
  },
  backup: {
    name: 'backup',
    summary: 'pg_dump | gzip into the backup directory on the database host, then gzip -t',
    usage: 'backup',
    syntax: { positional: [], flags: {} },
    risk: 'low',
    destructive: false,
    args: argSchemas.backup,
    approval: () => 'backup',
    targets: (_a, inv) => [[...dbTarget(inv), 'backup']],
    describe: () => 'backup',
  },
  'verify-backup': {
    name: 'verify-backup',
    summary: "Restore the newest backup into the scratch database and run the runbook's validation queries",
    usage: 'verify-backup [--into DATABASE]',
    syntax: { positional: [], flags: { '--into': { key: 'into' } } },
    risk: 'medium',
    destructive: false,
    args: argSchemas['verify-backup'],
    approval: (a, inv) => (isScratch(a.into, inv) ? 'verify-backup:scratch' : 'verify-backup:other'),
    targets: (a) => [['db', a.into]],
    describe: (a) => `verify-backup into ${a.into}`,
    // Restoring over anything but the scratch database overwrites it: claimed, never re-run blindly.
    raise: (a, inv) => (isScratch(a.into, inv) ? {} : { risk: 'critical', destructive: true }),
  },
  'cert-renew': {
    name: 'cert-renew',
    summary: 'certbot renew (dry run first, then for real), then reload nginx',
    usage: 'cert-renew',
    syntax: { positional: [], flags: {} },
    risk: 'medium',
    destructive: false,
    args: argSchemas['cert-renew'],
    approval: () => 'cert-renew',
    targets: (_a, inv) => [['tls'], ...hostsWithRoleIn(inv, 'lb').map(hostTarget)],
    describe: () => 'cert-renew',
  },
  failover: {
    name: 'failover',
    summary: 'Promote the replica, repoint and restart every app host, verify writes (Disaster Recovery)',
    usage: 'failover [--to REPLICA] [--force]',
    syntax: { positional: [], flags: { '--to': { key: 'to' }, '--force': { key: 'force', boolean: true } } },
    risk: 'critical',
    destructive: true,
    args: argSchemas.failover,
    approval: () => 'failover',
    targets: (a, inv) => [
      dbTarget(inv),
      ...hostsWithRoleIn(inv, 'db-primary').map(hostTarget),
      hostTarget(a.to),
      ...hostsWithRoleIn(inv, 'app').map(hostTarget),
    ],
    describe: (a) => `failover to ${a.to}${a.force ? ' (--force)' : ''}`,
  },
};

// ---------------------------------------------------------------------------------------------
// Using the catalog

export type ParseCommandResult =
  | { readonly ok: true; readonly command: ParsedCommand }
  | {
      readonly ok: false;
      /** One paragraph a person can act on ("host: unknown host "app-9"; app hosts: app-01, …"). */
      readonly error: string;
      readonly issues: readonly { readonly path: string; readonly message: string }[];
    };

function issueText(issue: z.core.$ZodIssue, name: CommandName): { path: string; message: string } {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const which = issue.keys.map((k) => quoteArg(k)).join(', ');
    const noun = issue.keys.length === 1 ? 'argument' : 'arguments';
    return { path, message: `unknown ${noun} ${which}; usage: ${CATALOG[name].usage}` };
  }
  return { path, message: issue.message };
}

/** The argument schema of `name` against `inv`. */
export function argsSchema<N extends CommandName>(name: N, inv: CatalogInventory): z.ZodType<CommandArgs[N]> {
  return CATALOG[name].args(inv) as z.ZodType<CommandArgs[N]>;
}

/** Validates `raw` as the arguments of command `name`. Pure; never throws for bad input. */
export function parseCommand(name: string, raw: unknown, inv: CatalogInventory): ParseCommandResult {
  if (!isCommandName(name)) {
    const error = `unknown command ${quoteArg(name)}; commands: ${COMMAND_NAMES.join(', ')}`;
    return { ok: false, error, issues: [{ path: '', message: error }] };
  }
  const parsed = CATALOG[name].args(inv).safeParse(raw ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => issueText(i, name));
    // Every message names its argument already ("host is required", "unknown host …").
    const error = `${name}: ${issues.map((i) => i.message).join('; ')}`;
    return { ok: false, error, issues };
  }
  return { ok: true, command: { name, args: parsed.data } as ParsedCommand };
}

// Correlated-union helpers: TypeScript cannot relate `CATALOG[cmd.name]` to `cmd.args` for a
// union-typed `cmd`, so each lookup goes through one generic function.
function spec<N extends CommandName>(
  cmd: ParsedCommand<N>,
): {
  s: CommandSpec<N>;
  args: CommandArgs[N];
} {
  return { s: CATALOG[cmd.name] as CommandSpec<N>, args: cmd.args as CommandArgs[N] };
}

export function approvalRuleKeyOf(cmd: ParsedCommand, inv: CatalogInventory): ApprovalRuleKey {
  const { s, args } = spec(cmd);
  return s.approval(args, inv);
}

/** The approval rule `policy` gives this parsed command (default policy: issue 6's defaults). */
export function approvalRuleFor(
  cmd: ParsedCommand,
  inv: CatalogInventory,
  policy: ApprovalPolicy = DEFAULT_APPROVAL_POLICY,
): ApprovalRule {
  return policy.rules[approvalRuleKeyOf(cmd, inv)];
}

export function targetsOf(cmd: ParsedCommand, inv: CatalogInventory): Target[] {
  const { s, args } = spec(cmd);
  return s.targets(args, inv);
}

export function describeCommand(cmd: ParsedCommand): string {
  const { s, args } = spec(cmd);
  return s.describe(args);
}

export function riskOf(cmd: ParsedCommand, inv: CatalogInventory): Risk {
  const { s, args } = spec(cmd);
  return s.raise?.(args, inv).risk ?? s.risk;
}

export function isDestructive(cmd: ParsedCommand, inv: CatalogInventory): boolean {
  const { s, args } = spec(cmd);
  return s.raise?.(args, inv).destructive ?? s.destructive;
}

/** Everything the approval policy's `evaluateRequest` needs about a parsed command. */
export function requestFacts(
  cmd: ParsedCommand,
  inv: CatalogInventory,
): { name: CommandName; summary: string; ruleKey: ApprovalRuleKey; targets: Target[] } {
  return {
    name: cmd.name,
    summary: describeCommand(cmd),
    ruleKey: approvalRuleKeyOf(cmd, inv),
    targets: targetsOf(cmd, inv),
  };
}

/** "1 approval by L2 or above" for a parsed command under `policy`. */
export function describeApprovalFor(
  cmd: ParsedCommand,
  inv: CatalogInventory,
  policy: ApprovalPolicy = DEFAULT_APPROVAL_POLICY,
): string {
  return describeRule(approvalRuleFor(cmd, inv, policy));
}

/**
 * The raw arguments of a playbook button (src/ops/playbooks.ts: `{ command, target }`), to be
 * parsed like typed ones. Rolling restart's target is not a host list, so it means every app host.
 */
export function argsFromButton(command: CommandName, target: string): Record<string, unknown> {
  switch (command) {
    case 'restart':
    case 'restart-redis':
    case 'warm-cache':
      return { host: target };
    case 'kill-query':
      return { pid: target };
    case 'flush-cache':
      return { key: target };
    case 'failover':
      return { to: target };
    case 'reindex':
    case 'analyze':
    case 'vacuum-analyze':
      return { table: target };
    default:
      return {};
  }
}
