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
  if (existsSync(file)) return credentialsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const creds: LabCredentials = {
    webhookToken: secret(),
    adminToken: secret(),
    postgres: { superuser: secret(), replicator: secret(), app: secret(), ops: secret() },
  };
  mkdirSync(labDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  return creds;
}

/** The environment the bot needs to operate this lab (also written to .lab/lab.env). */
export function botEnvironment(creds: LabCredentials, inventoryPath: string): Record<string, string> {
  return {
    INVENTORY_PATH: inventoryPath,
    ALERTMANAGER_WEBHOOK_TOKEN: creds.webhookToken,
    QNWIS_ADMIN_TOKEN: creds.adminToken,
    QNWIS_DB_PASSWORD: creds.postgres.ops,
  };
}
