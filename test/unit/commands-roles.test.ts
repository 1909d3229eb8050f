import { describe, expect, it } from 'vitest';
import {
  decide,
  LAB_USER_ROLES,
  RoleDirectory,
  type RolePolicy,
  refusalText,
  resolveRole,
  type UserGroup,
  whoMeets,
} from '../../src/bot/roles.js';
import { parseConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const policy = (over: Partial<RolePolicy> = {}): RolePolicy => ({
  users: { ...LAB_USER_ROLES },
  groups: {},
  readMinimum: 'L1',
  ...over,
});

const GROUPS: UserGroup[] = [
  { id: 'S0ONCALL01', handle: 'qnwis-oncall', users: ['U0ONCALL01', 'U0NEWHIRE1'] },
  { id: 'S0MANAGER1', handle: 'qnwis-managers', users: ['U0MANAGER1', 'U0NEWHIRE1'] },
  { id: 'S0VIEWERS1', handle: 'qnwis-viewers', users: ['U0OUTSIDE1'] },
];

describe('role policy', () => {
  it('maps the lab’s people to the runbook levels; the outsider has none', () => {
    const p = policy();
    expect(resolveRole(p, 'U0ONCALL01', [])).toEqual({ role: 'L1', via: ['user'] });
    expect(resolveRole(p, 'U0SRE00001', []).role).toBe('L2');
    expect(resolveRole(p, 'U0DEVLEAD1', []).role).toBe('L3');
    expect(resolveRole(p, 'U0MANAGER1', []).role).toBe('L4');
    expect(resolveRole(p, 'U0OUTSIDE1', [])).toEqual({ role: null, via: [] });
  });

  it('takes the highest of the user’s own mapping and their groups’ (by id or handle)', () => {
    const p = policy({ users: { U0NEWHIRE1: 'viewer' }, groups: { 'qnwis-oncall': 'L1', S0MANAGER1: 'L4' } });
    expect(resolveRole(p, 'U0NEWHIRE1', GROUPS)).toEqual({ role: 'L4', via: ['group:qnwis-managers'] });
    expect(resolveRole(p, 'U0ONCALL01', GROUPS)).toEqual({ role: 'L1', via: ['group:qnwis-oncall'] });
    // A group the policy does not map gives nothing.
    expect(resolveRole(p, 'U0OUTSIDE1', GROUPS).role).toBeNull();
    // Prototype keys are not roles.
    expect(resolveRole(p, 'constructor', GROUPS).role).toBeNull();
  });

  it('read-only verbs need L1 or above by default; help is open to everyone', () => {
    const p = policy();
    expect(decide(p, 'read', 'L1')).toEqual({ allowed: true });
    expect(decide(p, 'read', 'L4')).toEqual({ allowed: true });
    expect(decide(p, 'read', 'viewer')).toEqual({ allowed: false, needed: 'L1', role: 'viewer' });
    expect(decide(p, 'read', null)).toEqual({ allowed: false, needed: 'L1', role: null });
    expect(decide(p, 'open', null)).toEqual({ allowed: true });
  });

  it('the minimum is configurable, and lowering it to viewer still excludes people with no role', () => {
    expect(decide(policy({ readMinimum: 'L2' }), 'read', 'L1')).toMatchObject({
      allowed: false,
      needed: 'L2',
    });
    expect(decide(policy({ readMinimum: 'viewer' }), 'read', 'viewer')).toEqual({ allowed: true });
    expect(decide(policy({ readMinimum: 'viewer' }), 'read', null)).toMatchObject({ allowed: false });
  });

  it('names who can run it in the refusal', () => {
    const p = policy({ groups: { S0ONCALL01: 'L1', 'qnwis-sre': 'L2', 'qnwis-viewers': 'viewer' } });
    expect(whoMeets(p, 'L1')).toEqual({
      users: ['U0ONCALL01', 'U0SRE00001', 'U0DEVLEAD1', 'U0MANAGER1'],
      groups: ['S0ONCALL01', 'qnwis-sre'],
      levels: ['L1', 'L2', 'L3', 'L4'],
    });
    const text = refusalText(p, '`/qnwis status`', null, 'L1');
    expect(text).toBe(
      'Sorry, `/qnwis status` is limited to L1 on-call engineer, L2 senior SRE, L3 development team, L4 management ' +
        '(you have no QNWIS role). <!subteam^S0ONCALL01>, @qnwis-sre, <@U0ONCALL01>, <@U0SRE00001>, <@U0DEVLEAD1>, ' +
        '<@U0MANAGER1> can run it for you, or ask a QNWIS admin to grant you a role.',
    );
    expect(refusalText(policy({ users: {} }), '`/qnwis db`', 'viewer', 'L1')).toBe(
      'Sorry, `/qnwis db` is limited to L1 on-call engineer, L2 senior SRE, L3 development team, L4 management ' +
        '(your role is viewer). Ask a QNWIS admin to grant you a role.',
    );
  });
});

describe('RoleDirectory', () => {
  it('lists groups only when the policy maps some, caches them for the TTL, and re-lists after', async () => {
    let now = 0;
    let calls = 0;
    const dir = new RoleDirectory({
      policy: policy({ users: {}, groups: { 'qnwis-oncall': 'L1' } }),
      listUserGroups: async () => {
        calls++;
        return GROUPS;
      },
      ttlMs: 60_000,
      now: () => now,
    });
    expect((await dir.roleOf('U0ONCALL01')).role).toBe('L1');
    expect((await dir.roleOf('U0NEWHIRE1')).role).toBe('L1');
    expect(calls).toBe(1);
    now = 59_999;
    await dir.roleOf('U0ONCALL01');
    expect(calls).toBe(1);
    now = 60_000;
    await dir.roleOf('U0ONCALL01');
    expect(calls).toBe(2);

    let never = 0;
    const direct = new RoleDirectory({
      policy: policy(),
      listUserGroups: async () => {
        never++;
        return [];
      },
    });
    expect((await direct.roleOf('U0SRE00001')).role).toBe('L2');
    expect(never).toBe(0);
  });

  it('a failing listing falls back to the last good one, else to direct mappings (fail closed)', async () => {
    let now = 0;
    let fail = false;
    const errors: unknown[] = [];
    const dir = new RoleDirectory({
      policy: policy({ users: { U0SRE00001: 'L2' }, groups: { 'qnwis-oncall': 'L1' } }),
      listUserGroups: async () => {
        if (fail) throw new Error('slack down');
        return GROUPS;
      },
      ttlMs: 1000,
      now: () => now,
      onError: (e) => errors.push(e),
    });
    expect((await dir.roleOf('U0ONCALL01')).role).toBe('L1');
    fail = true;
    now = 5000;
    expect((await dir.roleOf('U0ONCALL01')).role).toBe('L1'); // stale listing
    expect(errors).toHaveLength(1);

    let attempts = 0;
    let coldNow = 0;
    const cold = new RoleDirectory({
      policy: policy({ users: { U0SRE00001: 'L2' }, groups: { 'qnwis-oncall': 'L1' } }),
      listUserGroups: async () => {
        attempts++;
        throw new Error('missing_scope');
      },
      ttlMs: 1000,
      now: () => coldNow,
    });
    expect((await cold.roleOf('U0ONCALL01')).role).toBeNull();
    expect((await cold.roleOf('U0SRE00001')).role).toBe('L2');
    // A failure is not retried on every command, only after the TTL.
    expect(attempts).toBe(1);
    coldNow = 1000;
    await cold.roleOf('U0ONCALL01');
    expect(attempts).toBe(2);
  });

  it('a slow listing does not hold the decision past its deadline', async () => {
    const dir = new RoleDirectory({
      policy: policy({ users: {}, groups: { 'qnwis-oncall': 'L1' } }),
      listUserGroups: () => new Promise(() => {}),
      timeoutMs: 50,
    });
    const started = Date.now();
    expect((await dir.roleOf('U0ONCALL01')).role).toBeNull();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('role configuration', () => {
  it('defaults to the lab’s people, no groups, L1', () => {
    const c = parseConfig({});
    expect(c.SLACK_ROLES).toEqual({ U0ONCALL01: 'L1', U0SRE00001: 'L2', U0DEVLEAD1: 'L3', U0MANAGER1: 'L4' });
    expect(c.SLACK_GROUP_ROLES).toEqual({});
    expect(c.SLACK_READ_MIN_ROLE).toBe('L1');
  });

  it('parses JSON maps and refuses bad ids, levels and JSON, naming the variable', () => {
    const c = parseConfig({
      SLACK_ROLES: '{"U123ABC":"L2","W0GRID01":"viewer"}',
      SLACK_GROUP_ROLES: '{"S0ONCALL01":"L1","qnwis-sre":"L2"}',
      SLACK_READ_MIN_ROLE: 'L2',
    });
    expect(c.SLACK_ROLES).toEqual({ U123ABC: 'L2', W0GRID01: 'viewer' });
    expect(c.SLACK_GROUP_ROLES).toEqual({ S0ONCALL01: 'L1', 'qnwis-sre': 'L2' });
    expect(c.SLACK_READ_MIN_ROLE).toBe('L2');
    for (const [env, variable] of [
      [{ SLACK_ROLES: '{"U1":"admin"}' }, 'SLACK_ROLES'],
      [{ SLACK_ROLES: '{"alice":"L1"}' }, 'SLACK_ROLES'],
      [{ SLACK_ROLES: 'U0ONCALL01=L1' }, 'SLACK_ROLES'],
      [{ SLACK_GROUP_ROLES: '{"Has Spaces":"L1"}' }, 'SLACK_GROUP_ROLES'],
      [{ SLACK_READ_MIN_ROLE: 'L5' }, 'SLACK_READ_MIN_ROLE'],
    ] as const) {
      let issues: readonly { path: string }[] = [];
      try {
        parseConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        issues = (err as ConfigError).issues;
      }
      expect(issues.map((i) => i.path.split('.')[0])).toContain(variable);
    }
  });
});
