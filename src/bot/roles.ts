/**
 * Who may run what from Slack: Slack user ids and user groups map (configuration) to the runbook's
 * escalation levels — L1 on-call engineer, L2 senior SRE, L3 development team, L4 management —
 * plus `viewer`. The policy is pure; the one side effect (listing user groups) is a port with a
 * short cache and a deadline, so deciding never holds a slash command past Slack's 3 s.
 *
 * Ranks: viewer < L1 < L2 < L3 < L4. A person's role is the highest of their own mapping and the
 * mappings of their groups. Someone with no mapping has no role (`null`), which is below `viewer`:
 * lowering the minimum to `viewer` opens read-only verbs to viewers, never to everyone.
 */
import { z } from 'zod';

export const ROLE_LEVELS = ['viewer', 'L1', 'L2', 'L3', 'L4'] as const;
export type RoleLevel = (typeof ROLE_LEVELS)[number];

export const ROLE_TITLES: Readonly<Record<RoleLevel, string>> = {
  viewer: 'viewer',
  L1: 'L1 on-call engineer',
  L2: 'L2 senior SRE',
  L3: 'L3 development team',
  L4: 'L4 management',
};

export const roleLevelSchema = z.enum(ROLE_LEVELS);
/** A Slack user id (`U…`, or `W…` on Enterprise Grid). */
export const slackUserIdSchema = z.string().regex(/^[UW][A-Z0-9]{2,30}$/, 'must be a Slack user id (U…)');
/** A Slack user group: its id (`S…`) or its handle (`qnwis-oncall`). */
export const slackGroupRefSchema = z
  .string()
  .regex(/^(S[A-Z0-9]{2,30}|[a-z0-9][a-z0-9._-]{0,79})$/, 'must be a user group id (S…) or handle');

export const userRolesSchema = z.record(slackUserIdSchema, roleLevelSchema);
export const groupRolesSchema = z.record(slackGroupRefSchema, roleLevelSchema);

/**
 * The lab's seeded people (src/dev/slack/seed.ts): the default when SLACK_ROLES is unset, so the
 * lab works out of the box. Production sets SLACK_ROLES and/or SLACK_GROUP_ROLES.
 */
export const LAB_USER_ROLES: Readonly<Record<string, RoleLevel>> = {
  U0ONCALL01: 'L1',
  U0SRE00001: 'L2',
  U0DEVLEAD1: 'L3',
  U0MANAGER1: 'L4',
};

export interface RolePolicy {
  /** Slack user id → level. */
  readonly users: Readonly<Record<string, RoleLevel>>;
  /** User group id or handle → level. */
  readonly groups: Readonly<Record<string, RoleLevel>>;
  /** Least level that may run read-only verbs (default L1). */
  readonly readMinimum: RoleLevel;
}

export function roleRank(role: RoleLevel | null): number {
  return role === null ? -1 : ROLE_LEVELS.indexOf(role);
}

export function highestRole(roles: readonly (RoleLevel | null | undefined)[]): RoleLevel | null {
  let best: RoleLevel | null = null;
  for (const r of roles) if (r && roleRank(r) > roleRank(best)) best = r;
  return best;
}

/** A user group as the port reports it. */
export interface UserGroup {
  readonly id: string;
  readonly handle: string;
  readonly users: readonly string[];
}

export interface ResolvedRole {
  readonly role: RoleLevel | null;
  /** Where it came from: `user`, or `group:<handle>`; empty when none. */
  readonly via: readonly string[];
}

/** A person's role under `policy`, given the groups they are in. Pure. */
export function resolveRole(policy: RolePolicy, userId: string, groups: readonly UserGroup[]): ResolvedRole {
  const candidates: { role: RoleLevel; via: string }[] = [];
  const own = Object.hasOwn(policy.users, userId) ? policy.users[userId] : undefined;
  if (own) candidates.push({ role: own, via: 'user' });
  for (const g of groups) {
    if (!g.users.includes(userId)) continue;
    const byId = Object.hasOwn(policy.groups, g.id) ? policy.groups[g.id] : undefined;
    const byHandle = Object.hasOwn(policy.groups, g.handle) ? policy.groups[g.handle] : undefined;
    const role = highestRole([byId, byHandle]);
    if (role) candidates.push({ role, via: `group:${g.handle || g.id}` });
  }
  const role = highestRole(candidates.map((c) => c.role));
  return { role, via: candidates.filter((c) => c.role === role).map((c) => c.via) };
}

/** What a verb needs: `open` (help) or `read` (every read-only verb). */
export type Access = 'open' | 'read';

export type Decision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly needed: RoleLevel; readonly role: RoleLevel | null };

export function decide(policy: RolePolicy, access: Access, role: RoleLevel | null): Decision {
  if (access === 'open') return { allowed: true };
  const needed = policy.readMinimum;
  return roleRank(role) >= roleRank(needed) ? { allowed: true } : { allowed: false, needed, role };
}

/** The people and groups that meet `minimum`, for the refusal ("ask one of …"). */
export function whoMeets(
  policy: RolePolicy,
  minimum: RoleLevel,
): { users: string[]; groups: string[]; levels: RoleLevel[] } {
  const ok = (r: RoleLevel) => roleRank(r) >= roleRank(minimum);
  return {
    users: Object.entries(policy.users)
      .filter(([, r]) => ok(r))
      .sort(([, a], [, b]) => roleRank(a) - roleRank(b))
      .map(([u]) => u),
    groups: Object.entries(policy.groups)
      .filter(([, r]) => ok(r))
      .map(([g]) => g),
    levels: ROLE_LEVELS.filter(ok),
  };
}

/**
 * The polite refusal, naming who can run it (mrkdwn; user ids become mentions, group ids become
 * group mentions, handles are shown as `@handle`).
 */
export function refusalText(
  policy: RolePolicy,
  what: string,
  role: RoleLevel | null,
  needed: RoleLevel,
): string {
  const who = whoMeets(policy, needed);
  const levels = who.levels.map((l) => ROLE_TITLES[l]).join(', ');
  const people = who.users.slice(0, 8).map((u) => `<@${u}>`);
  if (who.users.length > 8) people.push(`and ${who.users.length - 8} more`);
  const groups = who.groups.slice(0, 5).map((g) => (/^S[A-Z0-9]+$/.test(g) ? `<!subteam^${g}>` : `@${g}`));
  const ask = [...groups, ...people];
  const yours = role ? `your role is ${ROLE_TITLES[role]}` : 'you have no QNWIS role';
  return (
    `Sorry, ${what} is limited to ${levels} (${yours}). ` +
    (ask.length > 0
      ? `${ask.join(', ')} can run it for you, or ask a QNWIS admin to grant you a role.`
      : 'Ask a QNWIS admin to grant you a role.')
  );
}

/** The port: every user group with its members (Slack `usergroups.list` with `include_users`). */
export type ListUserGroups = () => Promise<readonly UserGroup[]>;

export interface RoleDirectoryOptions {
  readonly policy: RolePolicy;
  /** Only called when the policy maps groups. */
  readonly listUserGroups: ListUserGroups;
  /** How long a group listing is reused (default 60 s). */
  readonly ttlMs?: number;
  /** Longest wait for a listing before deciding without it (default 1500 ms: the ack must come within 3 s). */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  /** Told when a listing fails (the decision then uses the last good listing, or none). */
  readonly onError?: (err: unknown) => void;
}

/**
 * Resolves roles with the groups cached briefly. Failure semantics: a listing that fails or is
 * late never throws; the decision uses the last good listing if there is one, else the user's own
 * mapping only (which can only lower a role, i.e. fail closed).
 */
export class RoleDirectory {
  readonly policy: RolePolicy;
  private readonly list: ListUserGroups;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private cached: { at: number; groups: readonly UserGroup[] } | undefined;
  private inflight: Promise<readonly UserGroup[]> | undefined;
  /** After a failed listing, no new attempt before this (so a missing scope is not asked every command). */
  private retryAt = 0;

  constructor(opts: RoleDirectoryOptions) {
    this.policy = opts.policy;
    this.list = opts.listUserGroups;
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.timeoutMs = opts.timeoutMs ?? 1500;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
  }

  async roleOf(userId: string): Promise<ResolvedRole> {
    const groups = Object.keys(this.policy.groups).length > 0 ? await this.groups() : [];
    return resolveRole(this.policy, userId, groups);
  }

  private async groups(): Promise<readonly UserGroup[]> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.groups;
    if (this.now() < this.retryAt) return this.cached?.groups ?? [];
    this.inflight ??= this.list().then(
      (groups) => {
        this.cached = { at: this.now(), groups };
        this.inflight = undefined;
        return groups;
      },
      (err: unknown) => {
        this.inflight = undefined;
        this.retryAt = this.now() + this.ttlMs;
        this.onError(err);
        return this.cached?.groups ?? [];
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<readonly UserGroup[]>((resolve) => {
      timer = setTimeout(() => {
        this.onError(new Error(`user groups not listed within ${this.timeoutMs} ms`));
        resolve(this.cached?.groups ?? []);
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([this.inflight, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
