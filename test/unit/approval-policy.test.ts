/**
 * The policy matrix (issue 6, acceptance "Policy matrix test"): every command of the catalog (and
 * every variant whose arguments change the rule) × every role (viewer, L1–L4, no role) as
 * requester and as approver, including self-approval, double approval by one person, expired
 * approvals, approvals of a changed plan, outsiders, the two-approval quorum, break-glass and the
 * duplicate-request guard.
 *
 * Expectations come from the explicit tables below (the defaults written out by hand), not
 * from the implementation: if the policy drifts from the issue, these tables say so.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RoleLevel } from '../../src/bot/roles.js';
import {
  type Approval,
  type ApprovalDecision,
  type ApprovalPolicy,
  type ApprovalRequest,
  approvalPolicyFrom,
  approvalPolicyOverridesSchema,
  type BreakGlassWindow,
  canonicalJson,
  DEFAULT_APPROVAL_POLICY,
  describeRule,
  evaluateApproval,
  evaluateBreakGlass,
  evaluateQuorum,
  evaluateRequest,
  type OpenRequest,
  type Person,
  planHash,
  RULES,
  targetsOverlap,
} from '../../src/incidents/approvals.js';
import { parseInventory } from '../../src/inventory.js';
import {
  approvalRuleFor,
  type CommandName,
  type ParsedCommand,
  parseCommand,
  requestFacts,
} from '../../src/ops/commands/catalog.js';

const inv = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const policy = DEFAULT_APPROVAL_POLICY;

const MIN = 60_000;
/** 2025-01-12 03:00:00 UTC. */
const T0 = Date.UTC(2025, 0, 12, 3, 0, 0);

// ---------------------------------------------------------------------------------------------
// The explicit tables

type Role = 'viewer' | 'L1' | 'L2' | 'L3' | 'L4' | 'outsider';
const ROLES: readonly Role[] = ['viewer', 'L1', 'L2', 'L3', 'L4', 'outsider'];

/** Who may request a command (default: L1 and above; viewers and outsiders never). */
const MAY_REQUEST: Record<Role, boolean> = {
  viewer: false,
  L1: true,
  L2: true,
  L3: true,
  L4: true,
  outsider: false,
};

/** Who is "L1 or above" and who is "L2 or above". */
const AT_LEAST: Record<'L1' | 'L2', Record<Role, boolean>> = {
  L1: { viewer: false, L1: true, L2: true, L3: true, L4: true, outsider: false },
  L2: { viewer: false, L1: false, L2: true, L3: true, L4: true, outsider: false },
};

/** The refusal code when a role is not allowed to approve at all or is below the level. */
const REFUSAL_FOR: Record<Role, string | null> = {
  viewer: 'viewer',
  outsider: 'outsider',
  L1: 'level_too_low',
  L2: 'level_too_low',
  L3: 'level_too_low',
  L4: 'level_too_low',
};

type Expected =
  | { readonly kind: 'one'; readonly by: 'L1' | 'L2'; readonly text: string }
  | { readonly kind: 'two-with-L2'; readonly text: string };

const ONE_L1: Expected = { kind: 'one', by: 'L1', text: '1 approval by L1 or above' };
const ONE_L2: Expected = { kind: 'one', by: 'L2', text: '1 approval by L2 or above' };
const TWO: Expected = { kind: 'two-with-L2', text: '2 approvals, at least one by L2 or above' };

/** Issue 6 item 2, one row per command variant. */
const MATRIX: readonly { label: string; name: CommandName; args: Record<string, unknown>; rule: Expected }[] =
  [
    { label: 'restart app-02', name: 'restart', args: { host: 'app-02' }, rule: ONE_L1 },
    { label: 'kill-query 12345', name: 'kill-query', args: { pid: '12345' }, rule: ONE_L1 },
    { label: 'flush-cache KEY', name: 'flush-cache', args: { key: 'qnwis:cache:query:q_1' }, rule: ONE_L1 },
    { label: 'warm-cache', name: 'warm-cache', args: {}, rule: ONE_L1 },
    { label: 'maintenance on', name: 'maintenance', args: { mode: 'on', message: 'Upgrade' }, rule: ONE_L1 },
    { label: 'maintenance off', name: 'maintenance', args: { mode: 'off' }, rule: ONE_L1 },
    { label: 'rolling-restart', name: 'rolling-restart', args: {}, rule: ONE_L2 },
    { label: 'restart-redis redis-01', name: 'restart-redis', args: { host: 'redis-01' }, rule: ONE_L2 },
    { label: 'vacuum-analyze (all)', name: 'vacuum-analyze', args: {}, rule: ONE_L2 },
    {
      label: 'vacuum-analyze TABLE',
      name: 'vacuum-analyze',
      args: { table: 'qtr_employment_stats' },
      rule: ONE_L2,
    },
    { label: 'reindex TABLE', name: 'reindex', args: { table: 'qtr_employment_stats' }, rule: ONE_L2 },
    { label: 'analyze TABLE', name: 'analyze', args: { table: 'qtr_employment_stats' }, rule: ONE_L2 },
    { label: 'backup', name: 'backup', args: {}, rule: ONE_L2 },
    { label: 'cert-renew', name: 'cert-renew', args: {}, rule: ONE_L2 },
    {
      label: 'flush-cache --pattern',
      name: 'flush-cache',
      args: { pattern: 'qnwis:cache:query:*' },
      rule: ONE_L2,
    },
    { label: 'verify-backup into scratch', name: 'verify-backup', args: {}, rule: ONE_L2 },
    { label: 'flushdb', name: 'flushdb', args: {}, rule: TWO },
    { label: 'failover', name: 'failover', args: {}, rule: TWO },
    {
      label: 'verify-backup into qnwis_prod',
      name: 'verify-backup',
      args: { into: 'qnwis_prod' },
      rule: TWO,
    },
  ];

// ---------------------------------------------------------------------------------------------
// Helpers

function person(role: Role, n = 1): Person {
  return {
    id: `U0${role.toUpperCase()}${String(n).padStart(4, '0')}`,
    level: role === 'outsider' ? null : role,
  };
}

function parsed(row: (typeof MATRIX)[number]): ParsedCommand {
  const r = parseCommand(row.name, row.args, inv);
  if (!r.ok) throw new Error(r.error);
  return r.command;
}

let seq = 0;
function requestFor(
  row: (typeof MATRIX)[number],
  requester: Person = person('L1', 9),
  at = T0,
  plan: unknown = { steps: [row.label] },
): ApprovalRequest {
  const cmd = parsed(row);
  const facts = requestFacts(cmd, inv);
  return {
    id: `R-${++seq}`,
    command: cmd.name,
    summary: facts.summary,
    ruleKey: facts.ruleKey,
    requester,
    targets: facts.targets,
    planHash: planHash({ command: cmd.name, args: cmd.args, targets: facts.targets, plan }),
    requestedAt: at,
    expiresAt: at + 15 * MIN,
  };
}

function approve(
  request: ApprovalRequest,
  approvals: readonly Approval[],
  approver: Person,
  now: number,
  opts: { planHash?: string; breakGlass?: BreakGlassWindow | null; policy?: ApprovalPolicy } = {},
): ApprovalDecision {
  return evaluateApproval(opts.policy ?? policy, {
    request,
    approvals,
    candidate: { approver, planHash: opts.planHash ?? request.planHash },
    now,
    breakGlass: opts.breakGlass ?? null,
  });
}

function recorded(d: ApprovalDecision): Approval {
  if (d.decision !== 'recorded' || !d.approval) throw new Error(`expected recorded, got: ${d.reason}`);
  return d.approval;
}

const ELIGIBLE_FIRST = (rule: Expected): Role[] =>
  ROLES.filter((r) => (rule.kind === 'one' ? AT_LEAST[rule.by][r] : AT_LEAST.L1[r]));

// ---------------------------------------------------------------------------------------------

describe('the default rule of every command variant (issue 6 item 2)', () => {
  it.each(MATRIX)('$label: $rule.text', (row) => {
    const rule = approvalRuleFor(parsed(row), inv);
    expect(describeRule(rule)).toBe(row.rule.text);
    if (row.rule.kind === 'one') {
      expect(rule).toEqual({ approvals: 1, minimum: row.rule.by, senior: null });
    } else {
      expect(rule).toEqual({ approvals: 2, minimum: 'L1', senior: { level: 'L2', count: 1 } });
    }
  });

  it('read-only needs no approval', () => {
    expect(policy.rules['read-only']).toEqual(RULES.none);
    expect(describeRule(RULES.none)).toBe('no approval needed');
  });
});

describe('who may request: every command × every role', () => {
  const cases = MATRIX.flatMap((row) => ROLES.map((role) => ({ row, role, label: row.label })));
  it.each(cases)('$label requested by $role', ({ row, role }) => {
    const d = evaluateRequest(policy, {
      command: requestFacts(parsed(row), inv),
      requester: person(role),
      pending: [],
      now: T0,
    });
    expect(d.allowed).toBe(MAY_REQUEST[role]);
    if (d.allowed) {
      expect(d.ruleText).toBe(row.rule.text);
      expect(d.expiresAt).toBe(T0 + 15 * MIN);
      expect(d.reason).toBe(`needs ${row.rule.text} before it runs; approvals accepted until 03:15 UTC`);
    } else if (role === 'viewer') {
      expect(d.code).toBe('viewer');
      expect(d.reason).toBe('viewers cannot request commands: requesting needs L1 or above');
    } else {
      expect(d.code).toBe('outsider');
      expect(d.reason).toBe('outsiders cannot request commands: you have no QNWIS role');
    }
  });
});

describe('one approver: every command × every role', () => {
  const cases = MATRIX.flatMap((row) => ROLES.map((role) => ({ row, role, label: row.label })));
  it.each(cases)('$label approved by $role', ({ row, role }) => {
    const request = requestFor(row);
    const d = approve(request, [], person(role), T0 + MIN);
    const rule = row.rule;
    const eligible = rule.kind === 'one' ? AT_LEAST[rule.by][role] : AT_LEAST.L1[role];
    if (!eligible) {
      expect(d.decision).toBe('refused');
      expect(d.code).toBe(REFUSAL_FOR[role]);
      expect(d.satisfied).toBe(false);
      expect(d.approval).toBeNull();
      if (role === 'outsider') expect(d.reason).toBe('outsiders cannot approve: you have no QNWIS role');
      if (role === 'viewer') expect(d.reason).toMatch(/^viewers cannot approve/);
      if (role === 'L1') expect(d.reason).toBe('needs L2 or above; you are L1');
      expect(d.missing).toBe(
        rule.kind === 'one'
          ? `1 more approval by ${rule.by} or above`
          : '2 more approvals, at least one by L2 or above',
      );
      return;
    }
    expect(d.decision).toBe('recorded');
    expect(d.approval).toEqual({ approver: person(role), planHash: request.planHash, at: T0 + MIN });
    if (rule.kind === 'one') {
      expect(d.satisfied).toBe(true);
      expect(d.missing).toBe('none');
    } else {
      // One approval of two: an L2+ first leaves "anyone L1+", an L1 first leaves "an L2+".
      expect(d.satisfied).toBe(false);
      expect(d.missing).toBe(
        AT_LEAST.L2[role] ? '1 more approval by L1 or above' : '1 more approval by L2 or above',
      );
    }
  });
});

describe('self-approval: every command × every role that may request', () => {
  const cases = MATRIX.flatMap((row) =>
    ROLES.filter((r) => MAY_REQUEST[r]).map((role) => ({ row, role, label: row.label })),
  );
  it.each(cases)('$label: the $role requester cannot approve it', ({ row, role }) => {
    const requester = person(role);
    const request = requestFor(row, requester);
    const d = approve(request, [], requester, T0 + MIN);
    expect(d).toMatchObject({
      decision: 'refused',
      code: 'self_approval',
      reason: 'you requested it: someone else must approve',
      satisfied: false,
    });
    // Even smuggled into the list, the requester's approval does not count.
    const q = evaluateQuorum(policy, {
      request,
      approvals: [{ approver: requester, planHash: request.planHash, at: T0 + MIN }],
      now: T0 + 2 * MIN,
    });
    expect(q.satisfied).toBe(false);
    expect(q.counted).toEqual([]);
  });
});

describe('double approval by one person: every command × every eligible role', () => {
  const cases = MATRIX.flatMap((row) =>
    ELIGIBLE_FIRST(row.rule).map((role) => ({ row, role, label: row.label })),
  );
  it.each(cases)('$label: $role approves twice', ({ row, role }) => {
    const request = requestFor(row);
    const first = recorded(approve(request, [], person(role), T0 + MIN));
    const again = approve(request, [first], person(role), T0 + 2 * MIN);
    expect(again.decision).toBe('refused');
    expect(again.code).toBe('already_approved');
    expect(again.reason).toBe('you already approved this at 03:01 UTC');
    // Stored twice anyway, one person still counts once.
    const q = evaluateQuorum(policy, {
      request,
      approvals: [first, { ...first, at: T0 + 2 * MIN }],
      now: T0 + 3 * MIN,
    });
    expect(q.counted).toHaveLength(1);
    expect(q.satisfied).toBe(row.rule.kind === 'one');
  });
});

describe('expired approvals and expired requests: every command × every eligible role', () => {
  const cases = MATRIX.flatMap((row) =>
    ELIGIBLE_FIRST(row.rule).map((role) => ({ row, role, label: row.label })),
  );
  it.each(cases)('$label: $role’s approval expires after 15 min', ({ row, role }) => {
    const request = requestFor(row);
    const a = recorded(approve(request, [], person(role), T0));
    const justBefore = evaluateQuorum(policy, { request, approvals: [a], now: T0 + 15 * MIN - 1 });
    expect(justBefore.counted).toEqual([a]);
    expect(justBefore.satisfied).toBe(row.rule.kind === 'one');
    const after = evaluateQuorum(policy, { request, approvals: [a], now: T0 + 15 * MIN });
    expect(after.satisfied).toBe(false);
    expect(after.counted).toEqual([]);
    expect(after.ignored).toEqual([{ approval: a, reason: 'expired at 03:15 UTC' }]);
    // And the request stops accepting approvals at the same time.
    const late = approve(request, [a], person(role, 2), T0 + 15 * MIN);
    expect(late).toMatchObject({
      decision: 'refused',
      code: 'request_expired',
      reason: 'this request expired at 03:15 UTC; ask for it again',
    });
  });
});

describe('approval of a changed plan: every command × every eligible role', () => {
  const cases = MATRIX.flatMap((row) =>
    ELIGIBLE_FIRST(row.rule).map((role) => ({ row, role, label: row.label })),
  );
  it.each(cases)('$label: $role approves the old plan', ({ row, role }) => {
    const before = requestFor(row, person('L1', 9), T0, { steps: ['v1'] });
    const a = recorded(approve(before, [], person(role), T0 + MIN));
    // Re-planned (state changed): same request, new hash.
    const after: ApprovalRequest = {
      ...before,
      planHash: planHash({
        command: before.command,
        args: {},
        targets: before.targets,
        plan: { steps: ['v2'] },
      }),
    };
    expect(after.planHash).not.toBe(before.planHash);
    const stale = approve(after, [a], person(role, 2), T0 + 2 * MIN, { planHash: before.planHash });
    expect(stale.decision).toBe('refused');
    expect(stale.code).toBe('plan_changed');
    expect(stale.reason).toContain(
      `this approval was for a different plan (hash ${before.planHash.slice(7, 19)})`,
    );
    expect(stale.reason).toContain('approvals start over');
    const q = evaluateQuorum(policy, { request: after, approvals: [a], now: T0 + 2 * MIN });
    expect(q.satisfied).toBe(false);
    expect(q.counted).toEqual([]);
    expect(q.ignored[0]?.reason).toMatch(/^given for a different plan/);
    // The same person may approve the new plan.
    expect(approve(after, [a], person(role), T0 + 3 * MIN).decision).toBe('recorded');
  });
});

describe('two-approval commands: every ordered pair of roles', () => {
  const TWO_ROWS = MATRIX.filter((r) => r.rule.kind === 'two-with-L2');
  const cases = TWO_ROWS.flatMap((row) =>
    ROLES.flatMap((first) => ROLES.map((second) => ({ row, first, second, label: row.label }))),
  );
  it.each(cases)('$label: $first then $second', ({ row, first, second }) => {
    const request = requestFor(row);
    const d1 = approve(request, [], person(first, 1), T0 + MIN);
    if (!AT_LEAST.L1[first]) {
      expect(d1.decision).toBe('refused');
      expect(d1.code).toBe(REFUSAL_FOR[first]);
      return;
    }
    const a1 = recorded(d1);
    const d2 = approve(request, [a1], person(second, 2), T0 + 2 * MIN);
    // Satisfied iff both are L1+ and at least one is L2+.
    const ok = AT_LEAST.L1[second] && (AT_LEAST.L2[first] || AT_LEAST.L2[second]);
    if (ok) {
      expect(d2).toMatchObject({ decision: 'recorded', satisfied: true, missing: 'none', code: null });
      expect(d2.reason).toBe(
        `approved by ${person(second, 2).id}: 2 approvals, at least one by L2 or above complete, it can run`,
      );
    } else {
      expect(d2.decision).toBe('refused');
      expect(d2.satisfied).toBe(false);
      expect(d2.code).toBe(REFUSAL_FOR[second]);
      if (second === 'L1') expect(d2.reason).toBe('the remaining approval needs L2 or above; you are L1');
    }
  });

  it.each(TWO_ROWS)('$label: two L1s never suffice, and a third L1 is refused; an L3 completes it', (row) => {
    const request = requestFor(row);
    const a1 = recorded(approve(request, [], person('L1', 1), T0 + MIN));
    const d2 = approve(request, [a1], person('L1', 2), T0 + 2 * MIN);
    expect(d2.code).toBe('level_too_low');
    expect(evaluateQuorum(policy, { request, approvals: [a1], now: T0 + 2 * MIN }).missing).toBe(
      '1 more approval by L2 or above',
    );
    const d3 = approve(request, [a1], person('L3', 3), T0 + 3 * MIN);
    expect(d3).toMatchObject({ decision: 'recorded', satisfied: true });
  });

  it.each(TWO_ROWS)(
    '$label: the requester’s own seniority does not count (L4 requests, one L1 approves)',
    (row) => {
      const request = requestFor(row, person('L4', 7));
      const a1 = recorded(approve(request, [], person('L1', 1), T0 + MIN));
      const q = evaluateQuorum(policy, { request, approvals: [a1], now: T0 + 2 * MIN });
      expect(q.satisfied).toBe(false);
      expect(q.missing).toBe('1 more approval by L2 or above');
    },
  );

  it.each(TWO_ROWS)('$label: one L2 approval alone is not enough', (row) => {
    const request = requestFor(row);
    const d = approve(request, [], person('L2', 1), T0 + MIN);
    expect(d).toMatchObject({
      decision: 'recorded',
      satisfied: false,
      missing: '1 more approval by L1 or above',
    });
    expect(d.reason).toBe(`approved by ${person('L2', 1).id}; still needs 1 more approval by L1 or above`);
  });
});

describe('a satisfied request takes no more approvals', () => {
  it('a second approver after a one-approval rule is met is told nothing more is needed', () => {
    const row = MATRIX[0];
    if (!row) throw new Error('empty matrix');
    const request = requestFor(row);
    const a = recorded(approve(request, [], { ...person('L2', 1), name: 'Sara' }, T0 + MIN));
    const d = approve(request, [a], person('L3', 2), T0 + 2 * MIN);
    expect(d).toMatchObject({ decision: 'refused', code: 'already_satisfied', satisfied: true });
    expect(d.reason).toBe('it already has 1 approval by L1 or above (Sara); nothing more is needed');
  });
});

describe('approvers re-checked at run time', () => {
  it('an approver demoted since approving no longer counts', () => {
    const row = MATRIX.find((r) => r.name === 'rolling-restart');
    if (!row) throw new Error('no rolling-restart row');
    const request = requestFor(row);
    const a = recorded(approve(request, [], person('L2', 1), T0 + MIN));
    expect(evaluateQuorum(policy, { request, approvals: [a], now: T0 + 2 * MIN }).satisfied).toBe(true);
    const demoted = { ...a, approver: { ...a.approver, level: 'L1' as RoleLevel } };
    const q = evaluateQuorum(policy, { request, approvals: [demoted], now: T0 + 2 * MIN });
    expect(q.satisfied).toBe(false);
    expect(q.ignored[0]?.reason).toBe(`${a.approver.id} is not L2 or above (L1)`);
  });
});

// ---------------------------------------------------------------------------------------------
// Break-glass

describe('break-glass', () => {
  const declare = (
    role: Role,
    over: { durationMs?: number; reason?: string; active?: BreakGlassWindow } = {},
  ) =>
    evaluateBreakGlass(policy, {
      requester: person(role, 5),
      reason: over.reason ?? 'db-primary lost, DR in progress',
      now: T0,
      ...(over.durationMs === undefined ? {} : { durationMs: over.durationMs }),
      ...(over.active ? { active: over.active } : {}),
    });

  const MAY_DECLARE: Record<Role, boolean> = {
    viewer: false,
    L1: false,
    L2: true,
    L3: true,
    L4: true,
    outsider: false,
  };

  it.each(ROLES)('%s may declare break-glass: per the table', (role) => {
    const d = declare(role);
    expect(d.allowed).toBe(MAY_DECLARE[role]);
    if (d.allowed) {
      expect(d.window).toEqual({
        grantedBy: person(role, 5),
        reason: 'db-primary lost, DR in progress',
        startsAt: T0,
        endsAt: T0 + 30 * MIN,
      });
      expect(d.reason).toContain('break-glass until 03:30 UTC');
    } else if (role === 'L1') {
      expect(d.reason).toBe('break-glass needs L2 or above; you are L1');
    }
  });

  it('is bounded, needs a reason, and cannot be stacked', () => {
    expect(declare('L2', { durationMs: 3 * 60 * MIN })).toMatchObject({
      allowed: false,
      code: 'break_glass_too_long',
    });
    expect(declare('L2', { durationMs: 2 * 60 * MIN }).allowed).toBe(true);
    expect(declare('L2', { reason: '   ' })).toMatchObject({ allowed: false, code: 'break_glass_reason' });
    expect(declare('L2', { reason: 'a\nb' })).toMatchObject({ allowed: false, code: 'break_glass_reason' });
    const first = declare('L2');
    if (!first.allowed) throw new Error(first.reason);
    expect(declare('L3', { active: first.window })).toMatchObject({
      allowed: false,
      code: 'break_glass_active',
    });
  });

  const window: BreakGlassWindow = {
    grantedBy: { ...person('L2', 5), name: 'Sara' },
    reason: 'DR',
    startsAt: T0,
    endsAt: T0 + 30 * MIN,
  };

  const cases = MATRIX.flatMap((row) => ROLES.map((role) => ({ row, role, label: row.label })));
  it.each(cases)('while active, $label: one approval by $role', ({ row, role }) => {
    const request = requestFor(row);
    const d = approve(request, [], person(role), T0 + MIN, { breakGlass: window });
    if (!AT_LEAST.L1[role]) {
      expect(d.decision).toBe('refused');
      expect(d.code).toBe(REFUSAL_FOR[role]);
      return;
    }
    expect(d).toMatchObject({ decision: 'recorded', satisfied: true, breakGlass: true, missing: 'none' });
    expect(d.reason).toContain(
      'under break-glass (declared by Sara until 03:30 UTC: "DR"); one approval suffices',
    );
  });

  it.each(MATRIX)('while active, $label: the requester still cannot approve', (row) => {
    const requester = person('L2', 9);
    const request = requestFor(row, requester);
    expect(approve(request, [], requester, T0 + MIN, { breakGlass: window }).code).toBe('self_approval');
  });

  it('the request reports the lowered rule', () => {
    const row = MATRIX.find((r) => r.name === 'failover');
    if (!row) throw new Error('no failover row');
    const d = evaluateRequest(policy, {
      command: requestFacts(parsed(row), inv),
      requester: person('L1'),
      pending: [],
      now: T0 + MIN,
      breakGlass: window,
    });
    expect(d).toMatchObject({ allowed: true, breakGlass: true, ruleText: '1 approval by L1 or above' });
  });

  it('expires by itself: after the window one L1 approval no longer satisfies failover', () => {
    const row = MATRIX.find((r) => r.name === 'failover');
    if (!row) throw new Error('no failover row');
    const request = requestFor(row, person('L1', 9), T0 + 25 * MIN);
    const during = approve(request, [], person('L1'), T0 + 29 * MIN, { breakGlass: window });
    expect(during).toMatchObject({ decision: 'recorded', satisfied: true });
    const a = recorded(during);
    const after = evaluateQuorum(policy, { request, approvals: [a], now: T0 + 30 * MIN, breakGlass: window });
    expect(after.breakGlass).toBeNull();
    expect(after.satisfied).toBe(false);
    expect(after.missing).toBe('1 more approval by L2 or above');
    const late = approve(request, [], person('L1', 2), T0 + 31 * MIN, { breakGlass: window });
    expect(late).toMatchObject({ decision: 'recorded', satisfied: false, breakGlass: false });
  });

  it('a window granted by someone below L2, or longer than allowed, is ignored', () => {
    const row = MATRIX.find((r) => r.name === 'flushdb');
    if (!row) throw new Error('no flushdb row');
    const request = requestFor(row);
    const forged = { ...window, grantedBy: person('L1', 5) };
    expect(approve(request, [], person('L1'), T0 + MIN, { breakGlass: forged }).satisfied).toBe(false);
    const endless = { ...window, endsAt: T0 + 24 * 60 * MIN };
    expect(approve(request, [], person('L1'), T0 + MIN, { breakGlass: endless }).satisfied).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Duplicate requests

describe('an open request blocks a duplicate for the same target', () => {
  const open = (row: (typeof MATRIX)[number], expiresAt: number | null = T0 + 15 * MIN): OpenRequest => {
    const r = requestFor(row, { ...person('L1', 3), name: 'Omar' });
    return {
      id: r.id,
      command: r.command,
      summary: r.summary,
      requester: r.requester,
      targets: r.targets,
      expiresAt,
    };
  };
  const ask = (name: CommandName, args: Record<string, unknown>, pending: OpenRequest[], now = T0 + MIN) => {
    const r = parseCommand(name, args, inv);
    if (!r.ok) throw new Error(r.error);
    return evaluateRequest(policy, {
      command: requestFacts(r.command, inv),
      requester: person('L2'),
      pending,
      now,
    });
  };
  const row = (label: string) => {
    const r = MATRIX.find((m) => m.label === label);
    if (!r) throw new Error(label);
    return r;
  };

  it('the same host is blocked, with who asked and until when', () => {
    const pending = open(row('restart app-02'));
    const d = ask('restart', { host: 'app-02' }, [pending]);
    expect(d.allowed).toBe(false);
    if (d.allowed) return;
    expect(d.code).toBe('duplicate_target');
    expect(d.conflict?.id).toBe(pending.id);
    expect(d.reason).toBe(
      `host/app-02 already has an open request: "restart app-02" by Omar (${pending.id}) is waiting for ` +
        'approval until 03:15 UTC; approve, reject or cancel it first',
    );
  });

  it('a different target is not', () => {
    expect(ask('restart', { host: 'app-01' }, [open(row('restart app-02'))]).allowed).toBe(true);
    expect(ask('restart-redis', { host: 'redis-02' }, [open(row('restart-redis redis-01'))]).allowed).toBe(
      true,
    );
    expect(ask('reindex', { table: 'other_table' }, [open(row('reindex TABLE'))]).allowed).toBe(true);
    expect(ask('flush-cache', { key: 'qnwis:cache:query:q_2' }, [open(row('flush-cache KEY'))]).allowed).toBe(
      true,
    );
    // The drill restores into the scratch database: it does not collide with a backup of production.
    expect(ask('verify-backup', {}, [open(row('backup'))]).allowed).toBe(true);
  });

  it('overlapping targets are blocked both ways', () => {
    expect(ask('rolling-restart', {}, [open(row('restart app-02'))]).allowed).toBe(false);
    expect(ask('restart', { host: 'app-03' }, [open(row('rolling-restart'))]).allowed).toBe(false);
    expect(ask('flushdb', {}, [open(row('flush-cache KEY'))]).allowed).toBe(false);
    expect(ask('flush-cache', { key: 'qnwis:cache:query:q_1' }, [open(row('flushdb'))]).allowed).toBe(false);
    expect(
      ask('analyze', { table: 'qtr_employment_stats' }, [open(row('vacuum-analyze (all)'))]).allowed,
    ).toBe(false);
    expect(ask('kill-query', { pid: 777 }, [open(row('failover'))]).allowed).toBe(false);
    expect(ask('backup', {}, [open(row('verify-backup into qnwis_prod'))]).allowed).toBe(false);
    expect(ask('maintenance', { mode: 'off' }, [open(row('maintenance on'))]).allowed).toBe(false);
  });

  it('a lapsed request no longer blocks; an approved one blocks until it finishes', () => {
    expect(ask('restart', { host: 'app-02' }, [open(row('restart app-02'))], T0 + 15 * MIN).allowed).toBe(
      true,
    );
    const running = open(row('restart app-02'), null);
    const d = ask('restart', { host: 'app-02' }, [running], T0 + 60 * MIN);
    expect(d.allowed).toBe(false);
    if (!d.allowed) expect(d.reason).toContain('is approved and has not finished');
  });

  it('paths overlap only on whole segments', () => {
    expect(targetsOverlap(['host', 'app-0'], ['host', 'app-01'])).toBe(false);
    expect(targetsOverlap(['db', 'qnwis_prod'], ['db', 'qnwis_prod', 'tables', 't'])).toBe(true);
    expect(targetsOverlap(['cache', 'key', 'a'], ['cache', 'key', 'a'])).toBe(true);
    expect(targetsOverlap(['cache', 'key', 'a'], ['cache', 'pattern', 'a'])).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Plan hash

describe('planHash: canonical, sha256', () => {
  const facts = {
    command: 'restart',
    args: { host: 'app-02' },
    targets: [['host', 'app-02']],
    plan: { steps: [{ host: 'app-02', run: 'systemctl restart qnwis', healthWithinSec: 60 }] },
  };

  it('is sha256 of the canonical JSON (sorted keys, no spaces), independent of key order', () => {
    const canonical =
      '{"args":{"host":"app-02"},"command":"restart","plan":{"steps":[{"healthWithinSec":60,"host":"app-02",' +
      '"run":"systemctl restart qnwis"}]},"targets":[["host","app-02"]],"v":1}';
    const expected = `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
    expect(planHash(facts)).toBe(expected);
    const shuffled = {
      plan: { steps: [{ run: 'systemctl restart qnwis', healthWithinSec: 60, host: 'app-02' }] },
      targets: [['host', 'app-02']],
      args: { host: 'app-02' },
      command: 'restart',
    };
    expect(planHash(shuffled)).toBe(expected);
  });

  it('changes when the command, args, targets or plan change', () => {
    const base = planHash(facts);
    expect(planHash({ ...facts, command: 'restart-redis' })).not.toBe(base);
    expect(planHash({ ...facts, args: { host: 'app-03' } })).not.toBe(base);
    expect(planHash({ ...facts, targets: [['host', 'app-03']] })).not.toBe(base);
    expect(planHash({ ...facts, plan: { steps: [] } })).not.toBe(base);
    // Array order is meaning (the order hosts restart in).
    expect(planHash({ ...facts, targets: [['app-02', 'host']] })).not.toBe(base);
  });

  it('refuses what is not plain JSON data instead of hashing it as {}', () => {
    expect(() => planHash({ ...facts, plan: new Map([['a', 1]]) })).toThrow(/Map/);
    expect(() => planHash({ ...facts, plan: new Date(0) })).toThrow(/Date/);
    expect(() => planHash({ ...facts, plan: { n: Number.NaN } })).toThrow(/NaN/);
    expect(() => planHash({ ...facts, plan: { n: 1n } })).toThrow(/bigint/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => planHash({ ...facts, plan: cyclic })).toThrow(/cyclic/);
  });

  it('canonical JSON drops undefined members and writes -0 as 0', () => {
    expect(canonicalJson({ b: 1, a: undefined, c: [-0, 'x'] })).toBe('{"b":1,"c":[0,"x"]}');
  });
});

// ---------------------------------------------------------------------------------------------
// Configuration

describe('the policy is configurable, within limits', () => {
  it('overrides replace one rule and keep the others', () => {
    const p = approvalPolicyFrom(
      approvalPolicyOverridesSchema.parse({
        rules: { restart: { approvals: 1, minimum: 'L2' } },
        approvalTtlMinutes: 5,
      }),
    );
    expect(describeRule(p.rules.restart)).toBe('1 approval by L2 or above');
    expect(p.rules.failover).toEqual(DEFAULT_APPROVAL_POLICY.rules.failover);
    expect(p.approvalTtlMs).toBe(5 * MIN);
    const row = MATRIX[0];
    if (!row) throw new Error('empty matrix');
    const request = requestFor(row);
    expect(approve(request, [], person('L1'), T0 + MIN, { policy: p }).code).toBe('level_too_low');
  });

  it('a stricter request minimum per rule refuses lower requesters with a reason', () => {
    const p = approvalPolicyFrom(
      approvalPolicyOverridesSchema.parse({ requestMinimumByRule: { failover: 'L2' } }),
    );
    const row = MATRIX.find((r) => r.name === 'failover');
    if (!row) throw new Error('no failover row');
    const d = evaluateRequest(p, {
      command: requestFacts(parsed(row), inv),
      requester: person('L1'),
      pending: [],
      now: T0,
    });
    expect(d).toMatchObject({
      allowed: false,
      code: 'level_too_low',
      reason: 'requesting failover needs L2 or above; you are L1',
    });
  });

  it('viewers can never be made requesters or approvers; inconsistent rules are refused', () => {
    expect(approvalPolicyOverridesSchema.safeParse({ requestMinimum: 'viewer' }).success).toBe(false);
    expect(
      approvalPolicyOverridesSchema.safeParse({ rules: { restart: { approvals: 1, minimum: 'viewer' } } })
        .success,
    ).toBe(false);
    expect(
      approvalPolicyOverridesSchema.safeParse({
        rules: { flushdb: { approvals: 1, minimum: 'L1', senior: { level: 'L2', count: 2 } } },
      }).success,
    ).toBe(false);
    expect(
      approvalPolicyOverridesSchema.safeParse({ rules: { 'no-such-command': { approvals: 1 } } }).success,
    ).toBe(false);
  });

  it('describes other shapes a configuration may choose', () => {
    expect(describeRule({ approvals: 3, minimum: 'L2', senior: { level: 'L3', count: 2 } })).toBe(
      '3 approvals, at least 2 by L3 or above, all by L2 or above',
    );
    expect(describeRule({ approvals: 2, minimum: 'L1', senior: { level: 'L2', count: 2 } })).toBe(
      '2 approvals by L2 or above',
    );
  });
});
