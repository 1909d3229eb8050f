/**
 * The approval policy of "Act with approval" (issue 6, items 2 and 6), as one pure module: who may
 * request a command, who may approve it and how many approvals it needs, whether an approval
 * still counts, and what break-glass changes. Plain data in, plain data out; the clock is a
 * parameter (`now`, epoch milliseconds). Nothing here stores, sends or schedules anything.
 *
 * Vocabulary
 * - A *person* is a Slack user with the level src/bot/roles.ts resolved for them (`null`: no role,
 *   an outsider). Ranks: outsider < viewer < L1 < L2 < L3 < L4. Viewers and outsiders never
 *   request or approve a command, whatever the configuration says.
 * - A *rule* is "N approvals by `minimum` or above, at least K of them by `senior` or above".
 *   Each command variant has a rule key (`restart`, `flush-cache:pattern`, `verify-backup:other`…);
 *   the catalog (src/ops/commands/catalog.ts) says which key a parsed command has, this module's
 *   policy says what rule that key means (defaults below, overridable by configuration).
 * - A *request* is bound to a plan hash: sha256 of the canonical JSON of (command, args, targets,
 *   plan). An approval counts only for the hash it was given for, so a changed plan starts the
 *   approvals over.
 * - An approval counts while it is younger than `approvalTtlMs` (default 15 min), was given by
 *   someone other than the requester, is that person's first counted approval, and its giver's
 *   level meets the rule. A request accepts approvals until `expiresAt` (default 15 min after it
 *   was made).
 * - Targets are resource paths (`['host', 'app-02']`, `['db', 'qnwis_prod', 'tables', 'users']`).
 *   Two paths overlap when one is a prefix of the other; an open request blocks a new one whose
 *   targets overlap.
 * - Break-glass: granted by L2+ for a bounded window; while active, one approval by anyone L1+
 *   other than the requester satisfies any rule that needs approvals at all.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type RoleLevel, roleRank } from '../bot/roles.js';

// ---------------------------------------------------------------------------------------------
// Rules

/** Levels that may ever request or approve a command (viewers and outsiders never). */
export const ACTING_LEVELS = ['L1', 'L2', 'L3', 'L4'] as const;
export type ActingLevel = (typeof ACTING_LEVELS)[number];

export interface ApprovalRule {
  /** Approvals needed; 0 means none (read-only). */
  readonly approvals: number;
  /** Least level of every approver. */
  readonly minimum: ActingLevel;
  /** At least `count` of the approvals must come from `level` or above; null: no such condition. */
  readonly senior: { readonly level: ActingLevel; readonly count: number } | null;
}

/** The four shapes the issue's defaults use. */
export const RULES = {
  none: { approvals: 0, minimum: 'L1', senior: null },
  oneL1: { approvals: 1, minimum: 'L1', senior: null },
  oneL2: { approvals: 1, minimum: 'L2', senior: null },
  twoWithL2: { approvals: 2, minimum: 'L1', senior: { level: 'L2', count: 1 } },
} as const satisfies Record<string, ApprovalRule>;

/**
 * Every rule key the catalog can produce. A command has one key, or one per variant when its
 * arguments change the rule (flush-cache KEY vs --pattern; verify-backup into the scratch
 * database or anything else). `read-only` is for the read verbs of /qnwis.
 */
export const APPROVAL_RULE_KEYS = [
  'read-only',
  'restart',
  'rolling-restart',
  'restart-redis',
  'kill-query',
  'flush-cache:key',
  'flush-cache:pattern',
  'flushdb',
  'warm-cache',
  'maintenance',
  'vacuum-analyze',
  'reindex',
  'analyze',
  'backup',
  'verify-backup:scratch',
  'verify-backup:other',
  'cert-renew',
  'failover',
] as const;
export type ApprovalRuleKey = (typeof APPROVAL_RULE_KEYS)[number];

/** Issue 6 item 2's defaults. `verify-backup:scratch` (not named there) is treated like `backup`. */
export const DEFAULT_APPROVAL_RULES: Readonly<Record<ApprovalRuleKey, ApprovalRule>> = {
  'read-only': RULES.none,
  restart: RULES.oneL1,
  'kill-query': RULES.oneL1,
  'flush-cache:key': RULES.oneL1,
  'warm-cache': RULES.oneL1,
  maintenance: RULES.oneL1,
  'rolling-restart': RULES.oneL2,
  'restart-redis': RULES.oneL2,
  'vacuum-analyze': RULES.oneL2,
  reindex: RULES.oneL2,
  analyze: RULES.oneL2,
  backup: RULES.oneL2,
  'verify-backup:scratch': RULES.oneL2,
  'cert-renew': RULES.oneL2,
  'flush-cache:pattern': RULES.oneL2,
  flushdb: RULES.twoWithL2,
  failover: RULES.twoWithL2,
  'verify-backup:other': RULES.twoWithL2,
};

export interface ApprovalPolicy {
  /** Least level that may request a command (default L1). */
  readonly requestMinimum: ActingLevel;
  /** Per rule key, a stricter (or looser, never below L1) request minimum. */
  readonly requestMinimumByRule: Readonly<Partial<Record<ApprovalRuleKey, ActingLevel>>>;
  readonly rules: Readonly<Record<ApprovalRuleKey, ApprovalRule>>;
  /** An approval counts for this long after it was given (default 15 min). */
  readonly approvalTtlMs: number;
  /** A request accepts approvals for this long after it was made (default 15 min). */
  readonly requestTtlMs: number;
  readonly breakGlass: {
    /** Least level that may open a break-glass window (default L2). */
    readonly grantMinimum: ActingLevel;
    /** Least level of the single approval a break-glass window needs (default L1). */
    readonly approverMinimum: ActingLevel;
    readonly defaultDurationMs: number;
    readonly maxDurationMs: number;
  };
}

const MINUTE = 60_000;

export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = {
  requestMinimum: 'L1',
  requestMinimumByRule: {},
  rules: DEFAULT_APPROVAL_RULES,
  approvalTtlMs: 15 * MINUTE,
  requestTtlMs: 15 * MINUTE,
  breakGlass: {
    grantMinimum: 'L2',
    approverMinimum: 'L1',
    defaultDurationMs: 30 * MINUTE,
    maxDurationMs: 120 * MINUTE,
  },
};

const actingLevelSchema = z.enum(ACTING_LEVELS, {
  error: 'must be L1, L2, L3 or L4 (viewers and people without a role never request or approve)',
});

export const approvalRuleSchema = z
  .strictObject({
    approvals: z.number().int().min(0).max(5),
    minimum: actingLevelSchema.default('L1'),
    senior: z.strictObject({ level: actingLevelSchema, count: z.number().int().min(1).max(5) }).optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.senior) return;
    if (r.senior.count > r.approvals)
      ctx.addIssue({ code: 'custom', path: ['senior', 'count'], message: 'cannot exceed approvals' });
    if (roleRank(r.senior.level) <= roleRank(r.minimum))
      ctx.addIssue({ code: 'custom', path: ['senior', 'level'], message: 'must be above minimum' });
  })
  .transform((r): ApprovalRule => ({ approvals: r.approvals, minimum: r.minimum, senior: r.senior ?? null }));

const ruleKeySchema = z.enum(APPROVAL_RULE_KEYS);
const minutes = (max: number) => z.number().int().min(1).max(max);

/**
 * Configuration overrides (e.g. JSON in an environment variable), merged over the defaults by
 * `approvalPolicyFrom`. Every field is optional; rule keys are checked against the catalog's.
 */
export const approvalPolicyOverridesSchema = z.strictObject({
  requestMinimum: actingLevelSchema.optional(),
  requestMinimumByRule: z.partialRecord(ruleKeySchema, actingLevelSchema).optional(),
  rules: z.partialRecord(ruleKeySchema, approvalRuleSchema).optional(),
  approvalTtlMinutes: minutes(24 * 60).optional(),
  requestTtlMinutes: minutes(24 * 60).optional(),
  breakGlass: z
    .strictObject({
      grantMinimum: actingLevelSchema.optional(),
      approverMinimum: actingLevelSchema.optional(),
      defaultMinutes: minutes(24 * 60).optional(),
      maxMinutes: minutes(24 * 60).optional(),
    })
    .optional(),
});
export type ApprovalPolicyOverrides = z.output<typeof approvalPolicyOverridesSchema>;

/** The defaults with `overrides` (already parsed by `approvalPolicyOverridesSchema`) applied. */
export function approvalPolicyFrom(overrides: ApprovalPolicyOverrides = {}): ApprovalPolicy {
  const d = DEFAULT_APPROVAL_POLICY;
  const bg = overrides.breakGlass ?? {};
  const rules = { ...d.rules };
  for (const key of APPROVAL_RULE_KEYS) {
    const r = overrides.rules?.[key];
    if (r) rules[key] = r;
  }
  const maxDurationMs = bg.maxMinutes !== undefined ? bg.maxMinutes * MINUTE : d.breakGlass.maxDurationMs;
  const defaultDurationMs = Math.min(
    bg.defaultMinutes !== undefined ? bg.defaultMinutes * MINUTE : d.breakGlass.defaultDurationMs,
    maxDurationMs,
  );
  return {
    requestMinimum: overrides.requestMinimum ?? d.requestMinimum,
    requestMinimumByRule: { ...d.requestMinimumByRule, ...overrides.requestMinimumByRule },
    rules,
    approvalTtlMs:
      overrides.approvalTtlMinutes !== undefined ? overrides.approvalTtlMinutes * MINUTE : d.approvalTtlMs,
    requestTtlMs:
      overrides.requestTtlMinutes !== undefined ? overrides.requestTtlMinutes * MINUTE : d.requestTtlMs,
    breakGlass: {
      grantMinimum: bg.grantMinimum ?? d.breakGlass.grantMinimum,
      approverMinimum: bg.approverMinimum ?? d.breakGlass.approverMinimum,
      defaultDurationMs,
      maxDurationMs,
    },
  };
}

/** The rule `policy` gives a rule key. */
export function ruleOf(policy: ApprovalPolicy, key: ApprovalRuleKey): ApprovalRule {
  return policy.rules[key];
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "L2 or above". */
export function orAbove(level: RoleLevel): string {
  return level === 'L4' ? 'L4' : `${level} or above`;
}

/** "no approval needed", "1 approval by L2 or above", "2 approvals, at least one by L2 or above". */
export function describeRule(rule: ApprovalRule): string {
  if (rule.approvals === 0) return 'no approval needed';
  const head = count(rule.approvals, 'approval', 'approvals');
  if (!rule.senior) return `${head} by ${orAbove(rule.minimum)}`;
  if (rule.senior.count >= rule.approvals) return `${head} by ${orAbove(rule.senior.level)}`;
  const atLeast = rule.senior.count === 1 ? 'one' : String(rule.senior.count);
  const rest = rule.minimum === 'L1' ? '' : `, all by ${orAbove(rule.minimum)}`;
  return `${head}, at least ${atLeast} by ${orAbove(rule.senior.level)}${rest}`;
}

// ---------------------------------------------------------------------------------------------
// People, requests, approvals

export interface Person {
  /** Slack user id. */
  readonly id: string;
  /** Resolved by src/bot/roles.ts; null: no role (an outsider). */
  readonly level: RoleLevel | null;
  /** How to name them in a reason (e.g. `<@U0SRE00001>`); defaults to the id. */
  readonly name?: string;
}

/** A resource path; see targetsOverlap. */
export type Target = readonly string[];

export interface ApprovalRequest {
  readonly id: string;
  /** Catalog command name. */
  readonly command: string;
  /** One line a person reads: "restart app-02". */
  readonly summary: string;
  readonly ruleKey: ApprovalRuleKey;
  readonly requester: Person;
  readonly targets: readonly Target[];
  /** planHash(...) of what will run. Re-planning replaces it, which starts approvals over. */
  readonly planHash: string;
  readonly requestedAt: number;
  /** Approvals are accepted until then. */
  readonly expiresAt: number;
}

/** One recorded approval (what evaluateApproval returns to store). */
export interface Approval {
  readonly approver: Person;
  /** The plan hash the approver saw (from the message they clicked). */
  readonly planHash: string;
  readonly at: number;
}

/**
 * An open request as the duplicate check sees it: waiting for approval (`expiresAt` is when it
 * lapses) or approved and queued/running (`expiresAt` null: blocks until it finishes).
 */
export interface OpenRequest {
  readonly id: string;
  readonly command: string;
  readonly summary: string;
  readonly requester: Person;
  readonly targets: readonly Target[];
  readonly expiresAt: number | null;
}

export interface BreakGlassWindow {
  readonly grantedBy: Person;
  readonly reason: string;
  readonly startsAt: number;
  readonly endsAt: number;
}

/** Why something was refused; stable, for tests, audit rows and metrics. */
export const REFUSALS = {
  outsider: 'outsider',
  viewer: 'viewer',
  levelTooLow: 'level_too_low',
  duplicateTarget: 'duplicate_target',
  requestExpired: 'request_expired',
  noApprovalNeeded: 'no_approval_needed',
  selfApproval: 'self_approval',
  planChanged: 'plan_changed',
  alreadyApproved: 'already_approved',
  alreadySatisfied: 'already_satisfied',
  breakGlassActive: 'break_glass_active',
  breakGlassTooLong: 'break_glass_too_long',
  breakGlassReason: 'break_glass_reason',
} as const;
export type RefusalCode = (typeof REFUSALS)[keyof typeof REFUSALS];

function who(p: Person): string {
  return p.name ?? p.id;
}

/** "you are L1", "you are a viewer", "you have no QNWIS role". */
function yourLevel(level: RoleLevel | null): string {
  if (level === null) return 'you have no QNWIS role';
  return level === 'viewer' ? 'you are a viewer' : `you are ${level}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** "03:12 UTC", with the date in front when it is not `now`'s UTC day. */
export function formatUtc(at: number, now: number): string {
  const d = new Date(at);
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
  const sameDay = new Date(now).toISOString().slice(0, 10) === d.toISOString().slice(0, 10);
  return sameDay ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

/** "abcdef012345" of "sha256:abcdef012345…": enough for a person to tell two plans apart. */
export function shortHash(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 12);
}

function meets(level: RoleLevel | null, minimum: RoleLevel): boolean {
  return roleRank(level) >= roleRank(minimum);
}

// ---------------------------------------------------------------------------------------------
// Plan hash

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, `undefined` object
 * members dropped (as JSON.stringify does), -0 written as 0. Anything that is not plain JSON data
 * — a Map, Set, Date, class instance, function, bigint, symbol, NaN or Infinity — throws instead
 * of being silently flattened to `{}` (two different plans must never share a hash).
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, new Set());
}

function canonical(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot hash the number ${value}`);
      return JSON.stringify(Object.is(value, -0) ? 0 : value);
    case 'object':
      break;
    default:
      throw new TypeError(`cannot hash a ${typeof value}`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError('cannot hash a cyclic structure');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((v) => (v === undefined ? 'null' : canonical(v, seen))).join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`cannot hash a ${obj.constructor?.name ?? 'non-plain object'}: use plain data`);
    }
    const record = obj as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(record[k], seen)}`);
    return `{${members.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

export interface PlanFacts {
  readonly command: string;
  /** The parsed (resolved) arguments. */
  readonly args: unknown;
  readonly targets: readonly Target[];
  /** The exact steps, as plain data (hosts, order, health gates, the query text of a pid…). */
  readonly plan: unknown;
}

/** `sha256:<hex>` of the canonical JSON of (command, args, targets, plan). */
export function planHash(facts: PlanFacts): string {
  const text = canonicalJson({
    v: 1,
    command: facts.command,
    args: facts.args,
    targets: facts.targets,
    plan: facts.plan,
  });
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** True when one path is a prefix of the other (`['db','x']` covers `['db','x','tables','t']`). */
export function targetsOverlap(a: Target, b: Target): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function formatTarget(t: Target): string {
  return t.length === 0 ? '(everything)' : t.join('/');
}

function isOpen(r: OpenRequest, now: number): boolean {
  return r.expiresAt === null || now < r.expiresAt;
}

/** The first open request (other than `selfId`) whose targets overlap any of `targets`. */
export function findConflict(
  targets: readonly Target[],
  open: readonly OpenRequest[],
  now: number,
  selfId?: string,
): { readonly request: OpenRequest; readonly target: Target } | null {
  for (const r of open) {
    if (r.id === selfId || !isOpen(r, now)) continue;
    for (const mine of targets) {
      for (const theirs of r.targets) if (targetsOverlap(mine, theirs)) return { request: r, target: mine };
    }
  }
  return null;
}

/** Rule key by rule key: who may request it. Viewers and outsiders never may. */
export function requestMinimumFor(policy: ApprovalPolicy, key: ApprovalRuleKey): ActingLevel {
  return policy.requestMinimumByRule[key] ?? policy.requestMinimum;
}

export interface RequestInput {
  /** From the catalog: name, summary, rule key and targets of the parsed command. */
  readonly command: {
    readonly name: string;
    readonly summary: string;
    readonly ruleKey: ApprovalRuleKey;
    readonly targets: readonly Target[];
  };
  readonly requester: Person;
  /** Every open request (pending approval, or approved and not finished). */
  readonly pending: readonly OpenRequest[];
  readonly now: number;
  /** The active break-glass window, if any (only changes the rule reported). */
  readonly breakGlass?: BreakGlassWindow | null;
}

export type RequestDecision =
  | {
      readonly allowed: true;
      /** "needs 1 approval by L2 or above before it runs; approvals accepted until 03:27 UTC". */
      readonly reason: string;
      /** The rule that applies now (lowered when break-glass is active). */
      readonly rule: ApprovalRule;
      readonly ruleText: string;
      readonly breakGlass: boolean;
      /** When the request stops accepting approvals; null when it needs none. */
      readonly expiresAt: number | null;
    }
  | {
      readonly allowed: false;
      readonly code: RefusalCode;
      readonly reason: string;
      /** The open request that blocks it, for a link in the reply. */
      readonly conflict?: OpenRequest;
    };

/** May `requester` ask for this command now? */
export function evaluateRequest(policy: ApprovalPolicy, input: RequestInput): RequestDecision {
  const { command, requester, now } = input;
  const refuse = (code: RefusalCode, reason: string, conflict?: OpenRequest): RequestDecision =>
    conflict ? { allowed: false, code, reason, conflict } : { allowed: false, code, reason };
  if (requester.level === null)
    return refuse(REFUSALS.outsider, 'outsiders cannot request commands: you have no QNWIS role');
  if (requester.level === 'viewer')
    return refuse(REFUSALS.viewer, 'viewers cannot request commands: requesting needs L1 or above');
  const minimum = requestMinimumFor(policy, command.ruleKey);
  if (!meets(requester.level, minimum))
    return refuse(
      REFUSALS.levelTooLow,
      `requesting ${command.name} needs ${orAbove(minimum)}; ${yourLevel(requester.level)}`,
    );
  const conflict = findConflict(command.targets, input.pending, now);
  if (conflict) {
    const r = conflict.request;
    const state =
      r.expiresAt === null
        ? 'is approved and has not finished'
        : `is waiting for approval until ${formatUtc(r.expiresAt, now)}`;
    return refuse(
      REFUSALS.duplicateTarget,
      `${formatTarget(conflict.target)} already has an open request: "${r.summary}" by ${who(r.requester)} ` +
        `(${r.id}) ${state}; approve, reject or cancel it first`,
      r,
    );
  }
  const bg = activeBreakGlass(policy, input.breakGlass ?? null, now);
  const rule = effectiveRule(policy, policy.rules[command.ruleKey], bg);
  const ruleText = describeRule(rule);
  if (rule.approvals === 0)
    return {
      allowed: true,
      reason: 'no approval needed',
      rule,
      ruleText,
      breakGlass: false,
      expiresAt: null,
    };
  const expiresAt = now + policy.requestTtlMs;
  const bgText = bg ? ` (break-glass by ${who(bg.grantedBy)} until ${formatUtc(bg.endsAt, now)})` : '';
  return {
    allowed: true,
    reason: `needs ${ruleText}${bgText} before it runs; approvals accepted until ${formatUtc(expiresAt, now)}`,
    rule,
    ruleText,
    breakGlass: bg !== null,
    expiresAt,
  };
}

// ---------------------------------------------------------------------------------------------
// Break-glass

/** `window` when it is active at `now` and valid under `policy` (granter's level, duration); else null. */
export function activeBreakGlass(
  policy: ApprovalPolicy,
  window: BreakGlassWindow | null | undefined,
  now: number,
): BreakGlassWindow | null {
  if (!window) return null;
  if (!meets(window.grantedBy.level, policy.breakGlass.grantMinimum)) return null;
  if (window.endsAt - window.startsAt > policy.breakGlass.maxDurationMs) return null;
  return window.startsAt <= now && now < window.endsAt ? window : null;
}

/** The rule with break-glass applied: one approval by the break-glass minimum, if any were needed. */
export function effectiveRule(
  policy: ApprovalPolicy,
  rule: ApprovalRule,
  breakGlass: BreakGlassWindow | null,
): ApprovalRule {
  if (!breakGlass || rule.approvals === 0) return rule;
  return { approvals: 1, minimum: policy.breakGlass.approverMinimum, senior: null };
}

export interface BreakGlassInput {
  readonly requester: Person;
  readonly reason: string;
  /** Default: the policy's default duration. */
  readonly durationMs?: number;
  readonly now: number;
  /** The current window, if one is open. */
  readonly active?: BreakGlassWindow | null;
}

export type BreakGlassDecision =
  | { readonly allowed: true; readonly window: BreakGlassWindow; readonly reason: string }
  | { readonly allowed: false; readonly code: RefusalCode; readonly reason: string };

const BREAK_GLASS_REASON_MAX = 300;
/** Control and invisible (format) characters, line separators: the reason is one visible line. */
const REASON_FORBIDDEN = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

function formatDuration(ms: number): string {
  const min = Math.round(ms / MINUTE);
  if (min % 60 === 0) return `${min / 60} h`;
  return min > 60 ? `${Math.floor(min / 60)} h ${min % 60} min` : `${min} min`;
}

/** May `requester` open a break-glass window now? (Announcing and auditing it is the caller's.) */
export function evaluateBreakGlass(policy: ApprovalPolicy, input: BreakGlassInput): BreakGlassDecision {
  const { requester, now } = input;
  const min = policy.breakGlass.grantMinimum;
  const refuse = (code: RefusalCode, reason: string): BreakGlassDecision => ({
    allowed: false,
    code,
    reason,
  });
  if (requester.level === null)
    return refuse(REFUSALS.outsider, 'outsiders cannot declare break-glass: you have no QNWIS role');
  if (requester.level === 'viewer')
    return refuse(REFUSALS.viewer, `viewers cannot declare break-glass: it needs ${orAbove(min)}`);
  if (!meets(requester.level, min))
    return refuse(REFUSALS.levelTooLow, `break-glass needs ${orAbove(min)}; ${yourLevel(requester.level)}`);
  const reason = input.reason.trim();
  if (reason.length === 0)
    return refuse(REFUSALS.breakGlassReason, 'say why: break-glass needs a reason everyone can read');
  if (reason.length > BREAK_GLASS_REASON_MAX || REASON_FORBIDDEN.test(reason))
    return refuse(
      REFUSALS.breakGlassReason,
      `the reason must be one line of at most ${BREAK_GLASS_REASON_MAX} characters`,
    );
  const current = activeBreakGlass(policy, input.active ?? null, now);
  if (current)
    return refuse(
      REFUSALS.breakGlassActive,
      `break-glass is already active until ${formatUtc(current.endsAt, now)} (by ${who(current.grantedBy)})`,
    );
  const duration = input.durationMs ?? policy.breakGlass.defaultDurationMs;
  if (!Number.isInteger(duration) || duration < MINUTE || duration > policy.breakGlass.maxDurationMs)
    return refuse(
      REFUSALS.breakGlassTooLong,
      `break-glass lasts between 1 min and ${formatDuration(policy.breakGlass.maxDurationMs)}`,
    );
  const window: BreakGlassWindow = { grantedBy: requester, reason, startsAt: now, endsAt: now + duration };
  return {
    allowed: true,
    window,
    reason:
      `break-glass until ${formatUtc(window.endsAt, now)}: one approval by ${orAbove(policy.breakGlass.approverMinimum)} ` +
      'other than the requester suffices for any command',
  };
}

// ---------------------------------------------------------------------------------------------
// Approvals

export interface QuorumInput {
  readonly request: ApprovalRequest;
  /** Every approval recorded for the request (any plan hash, any age). */
  readonly approvals: readonly Approval[];
  readonly now: number;
  readonly breakGlass?: BreakGlassWindow | null;
}

export interface Quorum {
  readonly satisfied: boolean;
  /** "1 more approval by L2 or above"; "none" when satisfied. */
  readonly missing: string;
  /** The rule applied (lowered when break-glass is active). */
  readonly rule: ApprovalRule;
  readonly breakGlass: BreakGlassWindow | null;
  /** The approvals that count, oldest first. */
  readonly counted: readonly Approval[];
  /** The approvals that do not, each with why. */
  readonly ignored: readonly { readonly approval: Approval; readonly reason: string }[];
}

/** How many more approvals the rule needs given `counted`, and how many of them must be senior. */
function shortfall(rule: ApprovalRule, counted: readonly Approval[]): { need: number; seniorNeed: number } {
  const senior = rule.senior;
  const seniorNeed = senior
    ? Math.max(0, senior.count - counted.filter((a) => meets(a.approver.level, senior.level)).length)
    : 0;
  return { need: Math.max(rule.approvals - counted.length, seniorNeed), seniorNeed };
}

/** "1 more approval by L2 or above", "2 more approvals, at least one by L2 or above", "none". */
function missingText(rule: ApprovalRule, counted: readonly Approval[]): string {
  const { need, seniorNeed } = shortfall(rule, counted);
  if (need === 0) return 'none';
  const head = `${need} more ${need === 1 ? 'approval' : 'approvals'}`;
  if (seniorNeed === 0 || !rule.senior) return `${head} by ${orAbove(rule.minimum)}`;
  if (seniorNeed === need) return `${head} by ${orAbove(rule.senior.level)}`;
  const atLeast = seniorNeed === 1 ? 'one' : String(seniorNeed);
  return `${head}, at least ${atLeast} by ${orAbove(rule.senior.level)}`;
}

/**
 * Which approvals count now, and whether they meet the rule. Approvers' levels are taken from the
 * approvals as given: at run time pass them with each approver's current level, so a demoted
 * approver no longer counts. Request expiry does not matter here (it only stops new approvals).
 */
export function evaluateQuorum(policy: ApprovalPolicy, input: QuorumInput): Quorum {
  const { request, now } = input;
  const bg = activeBreakGlass(policy, input.breakGlass ?? null, now);
  const rule = effectiveRule(policy, policy.rules[request.ruleKey], bg);
  const counted: Approval[] = [];
  const ignored: { approval: Approval; reason: string }[] = [];
  const sorted = [...input.approvals].sort((a, b) => a.at - b.at);
  for (const a of sorted) {
    const skip = (reason: string) => ignored.push({ approval: a, reason });
    const expiresAt = a.at + policy.approvalTtlMs;
    if (a.approver.id === request.requester.id) skip('the requester cannot approve their own request');
    else if (a.planHash !== request.planHash)
      skip(`given for a different plan (hash ${shortHash(a.planHash)}); approvals start over`);
    else if (a.at > now) skip('given after the time evaluated');
    else if (now >= expiresAt) skip(`expired at ${formatUtc(expiresAt, now)}`);
    else if (!meets(a.approver.level, rule.minimum))
      skip(`${who(a.approver)} is not ${orAbove(rule.minimum)} (${a.approver.level ?? 'no role'})`);
    else if (counted.some((c) => c.approver.id === a.approver.id))
      skip(`${who(a.approver)} already approved; one person counts once`);
    else counted.push(a);
  }
  const { need } = shortfall(rule, counted);
  return {
    satisfied: need === 0,
    missing: missingText(rule, counted),
    rule,
    breakGlass: bg,
    counted,
    ignored,
  };
}

export interface ApprovalInput {
  readonly request: ApprovalRequest;
  readonly approvals: readonly Approval[];
  /** Who clicked Approve, and the plan hash of the message they clicked it on. */
  readonly candidate: { readonly approver: Person; readonly planHash: string };
  readonly now: number;
  readonly breakGlass?: BreakGlassWindow | null;
}

export interface ApprovalDecision {
  readonly decision: 'recorded' | 'refused';
  /** Set when refused. */
  readonly code: RefusalCode | null;
  /** A sentence for the person who clicked. */
  readonly reason: string;
  /** The approval to store, when recorded. */
  readonly approval: Approval | null;
  /** Whether the request may run now (after recording this approval, if recorded). */
  readonly satisfied: boolean;
  /** "1 more approval by L2 or above"; "none" when satisfied. */
  readonly missing: string;
  readonly rule: ApprovalRule;
  /** True when break-glass decided the rule. */
  readonly breakGlass: boolean;
}

/** May `candidate` approve `request` now, and does their approval complete it? */
export function evaluateApproval(policy: ApprovalPolicy, input: ApprovalInput): ApprovalDecision {
  const { request, candidate, now } = input;
  const person = candidate.approver;
  const before = evaluateQuorum(policy, input);
  const rule = before.rule;
  const refuse = (code: RefusalCode, reason: string): ApprovalDecision => ({
    decision: 'refused',
    code,
    reason,
    approval: null,
    satisfied: before.satisfied,
    missing: before.missing,
    rule,
    breakGlass: before.breakGlass !== null,
  });

  if (rule.approvals === 0) return refuse(REFUSALS.noApprovalNeeded, `${request.summary} needs no approval`);
  if (now >= request.expiresAt)
    return refuse(
      REFUSALS.requestExpired,
      `this request expired at ${formatUtc(request.expiresAt, now)}; ask for it again`,
    );
  if (person.level === null)
    return refuse(REFUSALS.outsider, 'outsiders cannot approve: you have no QNWIS role');
  if (person.level === 'viewer')
    return refuse(REFUSALS.viewer, `viewers cannot approve: approving needs ${orAbove(rule.minimum)}`);
  if (person.id === request.requester.id)
    return refuse(REFUSALS.selfApproval, 'you requested it: someone else must approve');
  if (candidate.planHash !== request.planHash)
    return refuse(
      REFUSALS.planChanged,
      `this approval was for a different plan (hash ${shortHash(candidate.planHash)}); the plan is now ` +
        `${shortHash(request.planHash)}, so approvals start over: read the new plan and approve it`,
    );
  const mine = before.counted.find((a) => a.approver.id === person.id);
  if (mine)
    return refuse(REFUSALS.alreadyApproved, `you already approved this at ${formatUtc(mine.at, now)}`);
  if (before.satisfied)
    return refuse(
      REFUSALS.alreadySatisfied,
      `it already has ${describeRule(rule)} (${before.counted.map((a) => who(a.approver)).join(', ')}); nothing more is needed`,
    );
  if (!meets(person.level, rule.minimum))
    return refuse(REFUSALS.levelTooLow, `needs ${orAbove(rule.minimum)}; ${yourLevel(person.level)}`);
  const { need, seniorNeed } = shortfall(rule, before.counted);
  if (rule.senior && seniorNeed >= need && !meets(person.level, rule.senior.level))
    return refuse(
      REFUSALS.levelTooLow,
      `the ${need === 1 ? 'remaining approval needs' : `remaining ${need} approvals need`} ` +
        `${orAbove(rule.senior.level)}; ${yourLevel(person.level)}`,
    );

  const approval: Approval = { approver: person, planHash: candidate.planHash, at: now };
  const after = evaluateQuorum(policy, { ...input, approvals: [...input.approvals, approval] });
  const bg = after.breakGlass;
  const under = bg
    ? ` under break-glass (declared by ${who(bg.grantedBy)} until ${formatUtc(bg.endsAt, now)}: "${bg.reason}"); one approval suffices`
    : '';
  const reason = after.satisfied
    ? `approved by ${who(person)}${under}: ${describeRule(after.rule)} complete, it can run`
    : `approved by ${who(person)}${under}; still needs ${after.missing}`;
  return {
    decision: 'recorded',
    code: null,
    reason,
    approval,
    satisfied: after.satisfied,
    missing: after.missing,
    rule: after.rule,
    breakGlass: bg !== null,
  };
}
