/**
 * Who may run a `/qnwis` verb: help is open to everyone; every other verb needs the read minimum
 * (SLACK_READ_MIN_ROLE), and a verb with a minimum of its own (usage.ts `minimumRole`, e.g. audit:
 * L2) needs the higher of the two. Pure.
 */
import { type Decision, decide, type RoleLevel, type RolePolicy, roleRank } from '../roles.js';
import { VERB_SPECS, type Verb } from './usage.js';

export function decideVerb(policy: RolePolicy, verb: Verb | null, role: RoleLevel | null): Decision {
  if (verb === 'help') return decide(policy, 'open', role);
  const minimum = verb ? VERB_SPECS[verb].minimumRole : undefined;
  if (!minimum || roleRank(minimum) <= roleRank(policy.readMinimum)) return decide(policy, 'read', role);
  return roleRank(role) >= roleRank(minimum) ? { allowed: true } : { allowed: false, needed: minimum, role };
}
