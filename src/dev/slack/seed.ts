/**
 * The workspace the stand-in starts with (and returns to on `POST /_local/reset`). Ids are fixed so
 * lab configuration and tests can name them; they have Slack's shapes (`T…`, `C…`, `U…`, `B…`, `A…`).
 */

/** Roles of the lab's people, as the bot's policy knows them (L1…L4). `null`: no role at all. */
export type LabRole = 'oncall' | 'sre' | 'devlead' | 'manager';

export interface SeedUser {
  id: string;
  name: string;
  real_name: string;
  email: string;
  role: LabRole | null;
  /** Shown on the page beside the name ("L1 on-call engineer"). */
  title: string;
  /** Avatar colour on the page. */
  color: string;
}

export interface SeedChannel {
  id: string;
  name: string;
  topic: string;
  purpose: string;
}

export interface SeedUsergroup {
  id: string;
  handle: string;
  name: string;
  description: string;
  users: string[];
}

export const SEED_TEAM = { id: 'T0QNWISLAB', name: 'QNWIS Lab', domain: 'qnwis-lab' } as const;

/** The app and its bot user: what every accepted bot token authenticates as. */
export const SEED_BOT = {
  user_id: 'U0QNWISBOT',
  bot_id: 'B0QNWISBOT',
  app_id: 'A0QNWISAPP',
  name: 'qnwis',
  real_name: 'QNWIS Ops Bot',
  color: '#4a154b',
} as const;

export const SLACKBOT = {
  user_id: 'USLACKBOT',
  name: 'slackbot',
  real_name: 'Slackbot',
  color: '#1d9bd1',
} as const;

/** The verification token put into the (deprecated) `token` field of what Slack sends. */
export const SEED_VERIFICATION_TOKEN = 'qnwisLocalVerificationToken';

export const SEED_USERS: readonly SeedUser[] = [
  {
    id: 'U0ONCALL01',
    name: 'oncall',
    real_name: 'Omar Haddad',
    email: 'oncall@qnwis.lab',
    role: 'oncall',
    title: 'L1 on-call engineer',
    color: '#2eb67d',
  },
  {
    id: 'U0SRE00001',
    name: 'sre',
    real_name: 'Sara Nasser',
    email: 'sre@qnwis.lab',
    role: 'sre',
    title: 'L2 senior SRE',
    color: '#e01e5a',
  },
  {
    id: 'U0DEVLEAD1',
    name: 'devlead',
    real_name: 'Daniel Kim',
    email: 'devlead@qnwis.lab',
    role: 'devlead',
    title: 'L3 development lead',
    color: '#36c5f0',
  },
  {
    id: 'U0MANAGER1',
    name: 'manager',
    real_name: 'Mariam Al-Thani',
    email: 'manager@qnwis.lab',
    role: 'manager',
    title: 'L4 engineering manager',
    color: '#ecb22e',
  },
  {
    id: 'U0OUTSIDE1',
    name: 'outsider',
    real_name: 'Olivia Brown',
    email: 'outsider@qnwis.lab',
    role: null,
    title: 'No ops role',
    color: '#868686',
  },
];

export const SEED_CHANNELS: readonly SeedChannel[] = [
  {
    id: 'C0QNWISOPS',
    name: 'qnwis-ops',
    topic: 'QNWIS operations: alerts, diagnostics, approvals',
    purpose: 'Where the bot talks to the on-call team',
  },
  { id: 'C0QNWISDB1', name: 'qnwis-db', topic: 'Database primary/replica', purpose: 'Database incidents' },
  { id: 'C0QNWISALR', name: 'qnwis-alerts', topic: 'Alertmanager notifications', purpose: 'Raw alert feed' },
  { id: 'C0GENERAL1', name: 'general', topic: 'Company-wide', purpose: 'Announcements' },
];

export const SEED_USERGROUPS: readonly SeedUsergroup[] = [
  {
    id: 'S0ONCALL01',
    handle: 'qnwis-oncall',
    name: 'QNWIS on-call',
    description: 'L1',
    users: ['U0ONCALL01'],
  },
  { id: 'S0SRE00001', handle: 'qnwis-sre', name: 'QNWIS SRE', description: 'L2', users: ['U0SRE00001'] },
  {
    id: 'S0DEVLEAD1',
    handle: 'qnwis-devleads',
    name: 'QNWIS dev leads',
    description: 'L3',
    users: ['U0DEVLEAD1'],
  },
  {
    id: 'S0MANAGER1',
    handle: 'qnwis-managers',
    name: 'QNWIS managers',
    description: 'L4',
    users: ['U0MANAGER1'],
  },
];
