/**
 * The lab's generated secrets, created once per lab directory and kept (mode 600) so that a restart
 * of the lab does not invalidate what the bot, Alertmanager and the databases already use.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const secret = () => randomBytes(24).toString('base64url');

const credentialsSchema = z.object({
  /** Bearer token Alertmanager sends to the bot's webhook (ALERTMANAGER_WEBHOOK_TOKEN). */
  webhookToken: z.string(),
  /** QNWIS app admin token: /health/detailed, /admin/maintenance (QNWIS_ADMIN_TOKEN). */
  adminToken: z.string(),
  /** Passwords of the lab's PostgreSQL roles. */
  /** Slack signing secret shared by the local Slack stand-in and the bot (SLACK_SIGNING_SECRET). */
  slackSigningSecret: z.string().default(secret),
  /** Bearer token of the bot's /health/detailed and /metrics (OPS_TOKEN). */
  opsToken: z.string().default(secret),
  /** PagerDuty webhook v3 signing secret shared by the stand-in and the bot (PAGERDUTY_WEBHOOK_SECRETS). */
  pagerdutyWebhookSecret: z.string().default(secret),
  postgres: z.object({
    superuser: z.string(),
    replicator: z.string(),
    app: z.string(),
    /** The bot's least-privilege role qnwis_ops (QNWIS_DB_PASSWORD). */
    ops: z.string(),
  }),
});

export type LabCredentials = z.infer<typeof credentialsSchema>;

export function loadOrCreateCredentials(labDir: string): LabCredentials {
  const file = path.join(labDir, 'credentials.json');
  if (existsSync(file)) {
    // Older labs lack newer secrets: the schema's defaults fill them in, and they are kept.
    const text = readFileSync(file, 'utf8');
    const creds = credentialsSchema.parse(JSON.parse(text));
    const updated = `${JSON.stringify(creds, null, 2)}\n`;
    if (updated !== text) writeFileSync(file, updated, { mode: 0o600 });
    return creds;
  }
  const creds: LabCredentials = credentialsSchema.parse({
    webhookToken: secret(),
    adminToken: secret(),
    postgres: { superuser: secret(), replicator: secret(), app: secret(), ops: secret() },
  });
  mkdirSync(labDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}

/** The PagerDuty stand-in's seeded Events API routing key (src/dev/pagerduty/seed.ts). */
export const LAB_PAGERDUTY_ROUTING_KEY = 'qnwislabproductionroutingkey0001';

export interface StandIns {
  slackUrl: string;
  pagerdutyUrl: string;
  /** Names the bot's own database and queue prefix, so two labs on one machine never share state. */
  labId: string;
}

/** The environment the bot needs to operate this lab (also written to .lab/lab.env). */
export function botEnvironment(
  creds: LabCredentials,
  inventoryPath: string,
  standIns: StandIns,
): Record<string, string> {
  return {
    INVENTORY_PATH: inventoryPath,
    ALERTMANAGER_WEBHOOK_TOKEN: creds.webhookToken,
    QNWIS_ADMIN_TOKEN: creds.adminToken,
    QNWIS_DB_PASSWORD: creds.postgres.ops,
    SLACK_API_URL: `${standIns.slackUrl}/api/`,
    SLACK_SIGNING_SECRET: creds.slackSigningSecret,
    PAGERDUTY_EVENTS_URL: standIns.pagerdutyUrl,
    PAGERDUTY_API_URL: standIns.pagerdutyUrl,
    PAGERDUTY_ROUTING_KEY: LAB_PAGERDUTY_ROUTING_KEY,
    PAGERDUTY_WEBHOOK_SECRETS: creds.pagerdutyWebhookSecret,
    // The stand-in accepts any well-formed REST token; the bot's PagerDuty user and the policy are its seed's.
    PAGERDUTY_API_TOKEN: 'lab-rest-api-token',
    PAGERDUTY_FROM: 'chatops-bot@qnwis.lab',
    PAGERDUTY_ESCALATION_POLICY_ID: 'PQNWEP1',
    OPS_TOKEN: creds.opsToken,
    // Shorter than production: lab tests wait on it after faults are healed.
    RECONCILE_INTERVAL_SEC: '15',
    // The bot's own state for this lab: its database and queue keys belong to this lab alone.
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/qnwis_chatops_lab_${standIns.labId}`,
    QUEUE_PREFIX: `{qnwislab${standIns.labId}}`,
  };
}
