/**
 * The account the stand-in starts with (and returns to on `POST /_local/reset`): one service,
 * "QNWIS Production", with an Events API v2 integration; one escalation policy, "QNWIS On-call",
 * whose four levels follow the runbook's escalation path (L1 on-call engineer, L2 senior SRE,
 * L3 development lead, L4 management/CTO); one user per level, with the same e-mail addresses as
 * the Slack stand-in's lab users, plus the bot's own user (`chatops-bot@qnwis.lab`). `outsider@qnwis.lab` deliberately has no PagerDuty account.
 *
 * Ids are fixed (PagerDuty-style: `P` + 6 upper-case characters) so the lab and tests can name
 * them; the routing key is a fixed 32-character key unless the caller supplies one.
 */

/** Default integration key of "QNWIS Production" (32 lower-case alphanumerics, as PagerDuty issues them). */
export const DEFAULT_ROUTING_KEY = 'qnwislabproductionroutingkey0001';

export const SEED_IDS = {
  service: 'PQNWPRD',
  integration: 'PQNWINT',
  escalationPolicy: 'PQNWEP1',
  team: 'PQNWOPS',
  webhookSubscription: 'PQNWSUB',
  users: {
    oncall: 'PL1ONCL',
    sre: 'PL2SRE0',
    devlead: 'PL3DEVL',
    manager: 'PL4MGMT',
    bot: 'PQNWBOT',
  },
} as const;

export interface SeedUser {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly jobTitle: string;
  readonly role: 'admin' | 'user' | 'limited_user' | 'owner';
  readonly color: string;
}

export interface SeedEscalationRule {
  readonly id: string;
  /** Minutes before the incident moves to the next rule (shown as PagerDuty shows it; no timer runs here). */
  readonly delayMinutes: number;
  readonly userIds: readonly string[];
}

export interface SeedEscalationPolicy {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly numLoops: number;
  readonly rules: readonly SeedEscalationRule[];
}

export interface SeedService {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly escalationPolicyId: string;
  readonly integrationId: string;
  readonly createdAt: string;
}

export interface SeedTeam {
  readonly id: string;
  readonly name: string;
}

export interface Seed {
  readonly users: readonly SeedUser[];
  readonly escalationPolicies: readonly SeedEscalationPolicy[];
  readonly services: readonly SeedService[];
  readonly teams: readonly SeedTeam[];
}

export const SEED: Seed = {
  users: [
    {
      id: SEED_IDS.users.oncall,
      name: 'Lab On-call Engineer',
      email: 'oncall@qnwis.lab',
      jobTitle: 'On-call Engineer (L1)',
      role: 'user',
      color: 'green',
    },
    {
      id: SEED_IDS.users.sre,
      name: 'Lab Senior SRE',
      email: 'sre@qnwis.lab',
      jobTitle: 'Senior SRE (L2)',
      role: 'admin',
      color: 'purple',
    },
    {
      id: SEED_IDS.users.devlead,
      name: 'Lab Development Lead',
      email: 'devlead@qnwis.lab',
      jobTitle: 'Development Lead (L3)',
      role: 'user',
      color: 'teal',
    },
    {
      id: SEED_IDS.users.manager,
      name: 'Lab Operations Manager',
      email: 'manager@qnwis.lab',
      jobTitle: 'Manager / CTO (L4)',
      role: 'owner',
      color: 'red',
    },
    {
      // The bot's own PagerDuty user (REST `From` when its clock escalates); on no escalation rule.
      id: SEED_IDS.users.bot,
      name: 'QNWIS ChatOps Bot',
      email: 'chatops-bot@qnwis.lab',
      jobTitle: 'Automation',
      role: 'limited_user',
      color: 'grey',
    },
  ],
  escalationPolicies: [
    {
      id: SEED_IDS.escalationPolicy,
      name: 'QNWIS On-call',
      description:
        'Runbook escalation path: L1 on-call engineer (ack within 15 min), L2 senior SRE (30 min), ' +
        'L3 development lead, L4 management (1 h).',
      numLoops: 0,
      rules: [
        { id: 'PQNWER1', delayMinutes: 15, userIds: [SEED_IDS.users.oncall] },
        { id: 'PQNWER2', delayMinutes: 15, userIds: [SEED_IDS.users.sre] },
        { id: 'PQNWER3', delayMinutes: 30, userIds: [SEED_IDS.users.devlead] },
        { id: 'PQNWER4', delayMinutes: 30, userIds: [SEED_IDS.users.manager] },
      ],
    },
  ],
  services: [
    {
      id: SEED_IDS.service,
      name: 'QNWIS Production',
      description: 'QNWIS production fleet (alerts from Prometheus/Alertmanager)',
      escalationPolicyId: SEED_IDS.escalationPolicy,
      integrationId: SEED_IDS.integration,
      createdAt: '2025-01-01T00:00:00Z',
    },
  ],
  teams: [{ id: SEED_IDS.team, name: 'QNWIS Operations' }],
};
