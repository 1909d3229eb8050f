/**
 * Every environment variable the bot reads, validated once. Only `main.ts` passes `process.env`
 * to `parseConfig`; everything else receives the typed `Config`. Nothing parses at import time.
 *
 * Each variable has a comment; `.env.example` lists all of them (a unit test keeps the two in step).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { groupRolesSchema, LAB_USER_ROLES, roleLevelSchema, userRolesSchema } from './bot/roles.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { approvalPolicyOverridesSchema } from './incidents/approvals.js';
import { escalationMatrixOverridesSchema, LAB_ESCALATION_LEVELS } from './incidents/escalation.js';
import { routeSchema } from './incidents/routing.js';
import { SEVERITIES } from './incidents/runbook.js';
import type { Inventory } from './inventory.js';
import { hostsWithRole } from './inventory.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A variable holding JSON, validated by `schema`. */
const jsonOf = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

const postgresUrl = z
  .string()
  .refine((s) => /^postgres(ql)?:\/\//.test(s), 'must be a postgres:// URL')
  .refine((s) => URL.canParse(s), 'is not a valid URL');
const redisUrl = z
  .string()
  .refine((s) => /^rediss?:\/\//.test(s), 'must be a redis:// URL')
  .refine((s) => URL.canParse(s), 'is not a valid URL');

/** Names of variables whose values are secrets: never printed, not even in validation errors. */
export const SECRET_VARIABLES = new Set([
  'DATABASE_URL',
  'REDIS_URL',
  'ALERTMANAGER_WEBHOOK_TOKEN',
  'QNWIS_DB_PASSWORD',
  'QNWIS_ADMIN_TOKEN',
  'QNWIS_CACHE_PASSWORD',
  'SLACK_BOT_TOKEN',
  'OPS_TOKEN',
  'SLACK_SIGNING_SECRET',
  'PAGERDUTY_ROUTING_KEY',
  'PAGERDUTY_WEBHOOK_SECRETS',
  'PAGERDUTY_API_TOKEN',
  'SLACK_APP_TOKEN',
]);

export const configSchema = z.object({
  /** Log level for pino. */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** Address the bot's HTTP server binds to; loopback by default so nothing is exposed by accident. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the single HTTP server (webhooks, Slack events, health). */
  PORT: int(1, 65535).default(3000),
  /** The bot's own state (incidents, approvals, audit). Never the QNWIS database. */
  DATABASE_URL: postgresUrl.default('postgres://postgres@127.0.0.1:5432/qnwis_chatops'),
  /** The bot's own Redis for BullMQ. Never the fleet's cache Redis: a FLUSHDB there must not wipe our queues. */
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379/0'),
  /** Prefix of every BullMQ key; a hash tag keeps a queue's keys in one Redis Cluster slot. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[{}A-Za-z0-9_-]+$/)
    .default('{qnwis}'),
  /** YAML file describing the fleet (hosts, services, database, cache). Defaults to the local lab. */
  INVENTORY_PATH: z.string().min(1).default('lab/inventory.yaml'),
  /** Bearer token Alertmanager sends on its webhook (http_config.authorization). */
  ALERTMANAGER_WEBHOOK_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Slack bot token (xoxb-…). Unset: the bot talks to the local Slack stand-in (and starts it if needed). */
  SLACK_BOT_TOKEN: z
    .string()
    .regex(/^xoxb-/, 'must be a bot token (xoxb-…)')
    .optional(),
  /** Slack signing secret: every request from Slack is verified with it. */
  SLACK_SIGNING_SECRET: z.string().min(8, 'must be at least 8 characters').optional(),
  /** Slack Web API base URL (default https://slack.com/api/, or the local stand-in when no token is set). */
  SLACK_API_URL: z.url().optional(),
  /** Channel for incidents no routing rule matches (name without #, or id). */
  SLACK_DEFAULT_CHANNEL: z.string().min(1).default('qnwis-alerts'),
  /** Routing rules, JSON: [{"match":["service=postgres"],"channel":"qnwis-db"}, …]; first match wins. */
  SLACK_ROUTES: jsonOf(z.array(routeSchema)).optional(),
  /** Severity per alert name, JSON, merged over the runbook's defaults: {"DiskFull":"SEV-2"}. */
  ALERT_SEVERITIES: jsonOf(z.record(z.string().min(1), z.enum(SEVERITIES))).optional(),
  /** How often open incidents are reconciled with Alertmanager's active alerts, seconds (0: never). */
  RECONCILE_INTERVAL_SEC: int(0, 86_400).default(60),
  /** Minimum gap between two messages posted to one channel, ms (Slack allows about 1/s). */
  SLACK_POST_INTERVAL_MS: int(0, 60_000).default(1100),
  /** More new incidents than this in STORM_WINDOW_SEC in one channel turns into one digest message. */
  STORM_THRESHOLD: int(1, 1000).default(5),
  /** The storm window, seconds. */
  STORM_WINDOW_SEC: int(1, 3600).default(10),
  /** Alert names that are heartbeats (recorded, never an incident), comma-separated. */
  HEARTBEAT_ALERTS: z.string().default('Watchdog'),
  /** PagerDuty Events API v2 base URL (default https://events.pagerduty.com). */
  PAGERDUTY_EVENTS_URL: z.url().default('https://events.pagerduty.com'),
  /** PagerDuty REST API base URL (default https://api.pagerduty.com). */
  PAGERDUTY_API_URL: z.url().default('https://api.pagerduty.com'),
  /** Events API v2 integration (routing) key of the QNWIS service: 32 characters. Unset: nothing is paged. */
  PAGERDUTY_ROUTING_KEY: z.string().length(32, 'must be 32 characters').optional(),
  /** PagerDuty webhook v3 signing secret(s), comma-separated during rotation. */
  PAGERDUTY_WEBHOOK_SECRETS: z.string().min(1).optional(),
  /** Bearer token for GET /health/detailed and GET /metrics (unset: both answer 401). */
  OPS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Password of the QNWIS database ops role named in the inventory (database.password_env). */
  QNWIS_DB_PASSWORD: z.string().min(1).optional(),
  /** Password of the QNWIS cache Redis, when the inventory names one (cache.password_env). */
  QNWIS_CACHE_PASSWORD: z.string().min(1).optional(),
  /** Bearer token of the QNWIS app's /health/detailed and /admin/maintenance (services.*.admin_token_env). */
  QNWIS_ADMIN_TOKEN: z.string().min(1).optional(),
  /** Connect timeout for SSH to a host, milliseconds. */
  SSH_CONNECT_TIMEOUT_MS: int(500, 60_000).default(5000),
  /** Default remote `timeout` for a diagnostic step, seconds. */
  SSH_COMMAND_TIMEOUT_SEC: int(1, 3600).default(5),
  /** Largest stdout/stderr kept from one remote command, bytes; the rest is dropped and flagged. */
  SSH_MAX_OUTPUT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Simultaneous commands per host (must stay below sshd's MaxSessions). */
  SSH_MAX_CONCURRENCY_PER_HOST: int(1, 64).default(8),
  /** Server-side statement_timeout on the QNWIS database, milliseconds. */
  PG_STATEMENT_TIMEOUT_MS: int(100, 3_600_000).default(5000),
  /** Timeout of health and maintenance HTTP calls, milliseconds. */
  HTTP_TIMEOUT_MS: int(100, 60_000).default(3000),
  /**
   * Slack user id → runbook level, JSON: {"U0ONCALL01":"L1", …}; levels viewer, L1 (on-call), L2
   * (senior SRE), L3 (development team), L4 (management). Unset: the lab's seeded people.
   */
  SLACK_ROLES: jsonOf(userRolesSchema).default({ ...LAB_USER_ROLES }),
  /** Slack user group (id S… or handle) → level, JSON; members come from usergroups.list (cached 60 s). Unset: none. */
  SLACK_GROUP_ROLES: jsonOf(groupRolesSchema).default({}),
  /** Least level that may run the read-only /qnwis verbs (help is open to everyone). */
  SLACK_READ_MIN_ROLE: roleLevelSchema.default('L1'),
  /**
   * Approval policy overrides, JSON (src/incidents/approvals.ts `approvalPolicyOverridesSchema`),
   * merged over issue 6's defaults. Unset: the defaults.
   */
  APPROVAL_POLICY: jsonOf(approvalPolicyOverridesSchema).default({}),
  /** How often requests are swept (expiry, lost jobs, break-glass end), seconds. */
  REQUEST_SWEEP_INTERVAL_SEC: int(1, 3600).default(15),
  /**
   * Socket Mode app-level token (xapp-…, scope connections:write). Set: Slack events, commands and
   * interactions arrive over Socket Mode instead of POST /slack/events (webhooks stay on HTTP).
   */
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, 'must be an app-level token (xapp-…)')
    .optional(),
  /**
   * Escalation matrix overrides, JSON (src/incidents/escalation.ts `escalationMatrixOverridesSchema`),
   * merged over the runbook's defaults. Unset: the runbook's timings, levels mapped to the lab's
   * seeded Slack user groups.
   */
  ESCALATION_MATRIX: jsonOf(escalationMatrixOverridesSchema).default({ levels: LAB_ESCALATION_LEVELS }),
  /** PagerDuty REST API token (acknowledge/resolve/escalate/reassign, on-calls, reconciliation). Unset: Slack only. */
  PAGERDUTY_API_TOKEN: z.string().min(8, 'must be at least 8 characters').optional(),
  /** E-mail of the PagerDuty user the bot acts as when its own clock escalates (REST `From`). */
  PAGERDUTY_FROM: z.email().optional(),
  /** The escalation policy whose on-calls `/qnwis oncall` lists (PagerDuty id, P…). */
  PAGERDUTY_ESCALATION_POLICY_ID: z
    .string()
    .regex(/^P[A-Z0-9]{5,}$/, 'must be a PagerDuty id (P…)')
    .optional(),
  /** Slack channel for scheduled duties (backup check, SLO digest, error-log review, maintenance). */
  DUTIES_CHANNEL: z.string().min(1).default('qnwis-ops'),
  /** Cron (UTC) of the daily backup check. "off": off (an empty value means the default). */
  DUTY_BACKUP_CHECK_CRON: z.string().default('30 6 * * *'),
  /** Cron (UTC) of the SLO digest (runbook: dashboards every 4 hours). "off": off (an empty value means the default). */
  DUTY_SLO_DIGEST_CRON: z.string().default('0 */4 * * *'),
  /** Cron (UTC) of the daily error-log review. "off": off (an empty value means the default). */
  DUTY_ERROR_LOG_REVIEW_CRON: z.string().default('0 7 * * *'),
  /** How often the maintenance-window announcement is checked, seconds (0: off). */
  DUTY_MAINTENANCE_CHECK_SEC: int(0, 86_400).default(900),
  /** The Watchdog heartbeat is missing after this many seconds without a delivery: page directly. */
  WATCHDOG_MAX_SILENCE_SEC: int(30, 86_400).default(600),
  /** How often the dead-man switch looks at the last Watchdog, seconds (0: off). */
  WATCHDOG_CHECK_SEC: int(0, 3600).default(60),
});

export type Config = z.infer<typeof configSchema>;

/**
 * Reads `.env` (if present) under the real environment: a variable set in the environment wins,
 * so `.env` is a convenience for development and never overrides what an operator exported.
 */
export function environmentWithDotenv(
  env: NodeJS.ProcessEnv,
  dotenvPath = '.env',
): Record<string, string | undefined> {
  if (!existsSync(dotenvPath)) return { ...env };
  const fromFile = parseDotenv(readFileSync(dotenvPath));
  return { ...fromFile, ...env };
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  return parseWith(configSchema, env);
}

/**
 * Only the bot database's URL, for the command-line tools (`npm run audit`): a problem in an
 * unrelated variable must not keep an operator from checking the audit chain.
 */
export function parseDatabaseConfig(env: Record<string, string | undefined>): Pick<Config, 'DATABASE_URL'> {
  return parseWith(configSchema.pick({ DATABASE_URL: true }), env);
}

function parseWith<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>): z.infer<T> {
  // Empty strings mean "unset": a blank line in .env must not turn a default into "".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const issues: ConfigIssue[] = result.error.issues.map((issue) => {
      const variable = issue.path.map(String).join('.') || '(environment)';
      // zod messages never contain the received value for these checks, but be explicit: a
      // secret's problem is described by its rule only.
      const message = SECRET_VARIABLES.has(variable) ? secretSafeMessage(issue) : issue.message;
      return { path: variable, message };
    });
    throw new ConfigError('configuration', issues);
  }
  return result.data;
}

function secretSafeMessage(issue: z.core.$ZodIssue): string {
  return issue.message.replace(/"[^"]*"/g, '"…"');
}

interface Endpoint {
  host: string;
  port: number;
}

/** Loopback spellings all reach the same server; compare them as one. */
function normaliseHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '127.0.0.1') return '127.0.0.1';
  return h;
}

function endpointOf(url: string, defaultPort: number): Endpoint {
  const u = new URL(url);
  return { host: normaliseHost(u.hostname || '127.0.0.1'), port: u.port ? Number(u.port) : defaultPort };
}

/**
 * The bot's own stores must never be the fleet it operates: a FLUSHDB on the cache or a failover
 * of the QNWIS database would otherwise wipe the bot's queue or state in the middle of the very
 * operation it is running.
 */
export function checkStoresSeparateFromFleet(config: Config, inventory: Inventory): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const db = endpointOf(config.DATABASE_URL, 5432);
  for (const host of [...hostsWithRole(inventory, 'db-primary'), ...hostsWithRole(inventory, 'db-replica')]) {
    if (normaliseHost(host.address) === db.host && inventory.database.port === db.port) {
      issues.push({
        path: 'DATABASE_URL',
        message: `points at the QNWIS database server ${host.name} (${host.address}:${db.port}); the bot's state must live elsewhere`,
      });
    }
  }
  const redis = endpointOf(config.REDIS_URL, 6379);
  for (const host of hostsWithRole(inventory, 'redis')) {
    if (normaliseHost(host.address) === redis.host && inventory.cache.port === redis.port) {
      issues.push({
        path: 'REDIS_URL',
        message: `points at the QNWIS cache ${host.name} (${host.address}:${redis.port}); BullMQ must use its own Redis`,
      });
    }
  }
  return issues;
}

/** Secrets the inventory names must be present in the configuration. */
export function checkInventorySecrets(config: Config, inventory: Inventory): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const provided = config as Record<string, unknown>;
  const require = (variable: string | undefined, where: string) => {
    if (!variable) return;
    if (!(variable in configSchema.shape)) {
      issues.push({ path: where, message: `names ${variable}, which is not a variable the bot knows` });
    } else if (provided[variable] === undefined) {
      issues.push({ path: variable, message: `is required by the inventory (${where}) but is not set` });
    }
  };
  require(inventory.database.passwordEnv, 'database.password_env');
  require(inventory.cache.passwordEnv, 'cache.password_env');
  for (const service of inventory.services.values()) {
    require(service.adminTokenEnv, `services.${service.name}.admin_token_env`);
  }
  return issues;
}

/** The value of a secret the inventory names by variable (checked present by `checkInventorySecrets`). */
export function secretFromConfig(config: Config, variable: string | undefined): string | undefined {
  if (!variable) return undefined;
  const value = (config as Record<string, unknown>)[variable];
  return typeof value === 'string' ? value : undefined;
}
