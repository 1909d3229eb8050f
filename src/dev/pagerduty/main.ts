/**
 * CLI of the local PagerDuty stand-in: `npm run pagerduty-local -- [flags]`.
 *
 * Flags and environment variables are read into ONE zod schema (`cliSchema`, keyed by the
 * environment variable names); a flag wins over its variable. Nothing parses at import time: the
 * process is started only when this file is the entry point.
 *
 * | flag | variable | default | meaning |
 * |---|---|---|---|
 * | `--listen` | PAGERDUTY_LOCAL_LISTEN | 127.0.0.1:3200 | HTTP listener (REST, Events API, page, /_local) |
 * | `--https-listen` | PAGERDUTY_LOCAL_HTTPS_LISTEN | 127.0.0.1:3243 | HTTPS listener (same app), or `off` |
 * | `--state-dir` | PAGERDUTY_LOCAL_STATE_DIR | .lab/pagerduty-tls | generated CA + server certificate (reused) |
 * | `--webhook-url` | PAGERDUTY_LOCAL_WEBHOOK_URL | http://127.0.0.1:3000/webhooks/pagerduty | v3 webhook subscription URL |
 * | `--webhook-secret` (repeatable) | PAGERDUTY_LOCAL_WEBHOOK_SECRET (comma-separated) | — required | signing secret(s); two during a rotation |
 * | `--api-token` (repeatable) | PAGERDUTY_LOCAL_API_TOKENS (comma-separated) | any token | accepted REST API tokens |
 * | `--routing-key` (repeatable) | PAGERDUTY_LOCAL_ROUTING_KEYS (comma-separated) | qnwislabproductionroutingkey0001 + any | integration keys of "QNWIS Production" |
 * | `--rest-rate-limit` | PAGERDUTY_LOCAL_REST_RATE_LIMIT | 960 | REST requests per minute per token |
 * | `--events-rate-limit` | PAGERDUTY_LOCAL_EVENTS_RATE_LIMIT | 120 | events per minute per routing key |
 * | `--webhook-timeout-ms` | PAGERDUTY_LOCAL_WEBHOOK_TIMEOUT_MS | 5000 | time allowed for a 2xx |
 * | `--webhook-retry-base-ms` | PAGERDUTY_LOCAL_WEBHOOK_RETRY_BASE_MS | 1000 | first retry delay (doubles) |
 * | `--webhook-max-attempts` | PAGERDUTY_LOCAL_WEBHOOK_MAX_ATTEMPTS | 5 | attempts before a webhook is dropped |
 * | `--public-url` | PAGERDUTY_LOCAL_PUBLIC_URL | the HTTP URL | base of `self`/`html_url` links |
 * | `--log-level` | LOG_LEVEL | info | pino level |
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../../errors.js';
import { createLogger } from '../../observability/logger.js';
import { ROUTING_KEY_LENGTH } from './events-api.js';
import {
  DEFAULT_HTTP_LISTEN,
  DEFAULT_HTTPS_LISTEN,
  DEFAULT_TLS_STATE_DIR,
  DEFAULT_WEBHOOK_URL,
  type PagerDutyLocalOptions,
  startPagerDutyLocal,
} from './server.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const listenAddress = z.string().transform((s, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s.trim());
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'must be HOST:PORT (port 0–65535)' });
    return z.NEVER;
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
});

const commaList = z
  .string()
  .optional()
  .transform((s) =>
    (s ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  );

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Every setting of the CLI, keyed by its environment variable. */
export const cliSchema = z.object({
  /** HTTP listener: REST API, Events API, the page and the inspection API. */
  PAGERDUTY_LOCAL_LISTEN: listenAddress.prefault(`${DEFAULT_HTTP_LISTEN.host}:${DEFAULT_HTTP_LISTEN.port}`),
  /** HTTPS listener serving the same app with the generated certificate, or `off`. */
  PAGERDUTY_LOCAL_HTTPS_LISTEN: z
    .union([z.literal('off'), listenAddress])
    .prefault(`${DEFAULT_HTTPS_LISTEN.host}:${DEFAULT_HTTPS_LISTEN.port}`),
  /** Directory of the generated CA and server certificate; generated once, then reused. */
  PAGERDUTY_LOCAL_STATE_DIR: z.string().min(1).default(DEFAULT_TLS_STATE_DIR),
  /** Where v3 webhooks are POSTed (the bot's `/webhooks/pagerduty`). */
  PAGERDUTY_LOCAL_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).default(DEFAULT_WEBHOOK_URL),
  /** Webhook signing secret(s), comma-separated; two while rotating (both signatures are sent). */
  PAGERDUTY_LOCAL_WEBHOOK_SECRET: z
    .string({ error: 'is required: the secret the bot verifies X-PagerDuty-Signature with' })
    .transform((s) =>
      s
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== ''),
    )
    .pipe(
      z
        .array(z.string())
        .min(1, 'is required: the secret the bot verifies X-PagerDuty-Signature with')
        .max(2, 'at most two secrets (current and next, during a rotation)'),
    ),
  /** REST API tokens accepted in `Authorization: Token token=…`; empty accepts any token. */
  PAGERDUTY_LOCAL_API_TOKENS: commaList,
  /** Integration keys routed to "QNWIS Production"; empty: the default key, and any well-formed key. */
  PAGERDUTY_LOCAL_ROUTING_KEYS: commaList.pipe(
    z.array(
      z
        .string()
        .regex(/^[A-Za-z0-9]+$/, 'routing keys are alphanumeric')
        .length(ROUTING_KEY_LENGTH, `routing keys are ${ROUTING_KEY_LENGTH} characters`),
    ),
  ),
  /** REST requests per minute per token (PagerDuty: 960). */
  PAGERDUTY_LOCAL_REST_RATE_LIMIT: int(1, 1_000_000).default(960),
  /** Events per minute per routing key (PagerDuty: about 120). */
  PAGERDUTY_LOCAL_EVENTS_RATE_LIMIT: int(1, 1_000_000).default(120),
  /** Time a webhook receiver has to answer 2xx (PagerDuty: 5 s). */
  PAGERDUTY_LOCAL_WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(5_000),
  /** First webhook retry delay; doubles per attempt (PagerDuty retries for hours; the lab is fast). */
  PAGERDUTY_LOCAL_WEBHOOK_RETRY_BASE_MS: int(1, 3_600_000).default(1_000),
  /** Attempts per webhook before it is dropped (a drop counts towards disabling the subscription). */
  PAGERDUTY_LOCAL_WEBHOOK_MAX_ATTEMPTS: int(1, 100).default(5),
  /** Base URL written into `self`/`html_url`; default the HTTP URL. */
  PAGERDUTY_LOCAL_PUBLIC_URL: z.url().optional(),
  /** pino log level. */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

export type CliConfig = z.infer<typeof cliSchema>;

/** Flag → variable. Repeatable flags are joined with commas. */
const FLAGS = {
  listen: 'PAGERDUTY_LOCAL_LISTEN',
  'https-listen': 'PAGERDUTY_LOCAL_HTTPS_LISTEN',
  'state-dir': 'PAGERDUTY_LOCAL_STATE_DIR',
  'webhook-url': 'PAGERDUTY_LOCAL_WEBHOOK_URL',
  'webhook-secret': 'PAGERDUTY_LOCAL_WEBHOOK_SECRET',
  'api-token': 'PAGERDUTY_LOCAL_API_TOKENS',
  'routing-key': 'PAGERDUTY_LOCAL_ROUTING_KEYS',
  'rest-rate-limit': 'PAGERDUTY_LOCAL_REST_RATE_LIMIT',
  'events-rate-limit': 'PAGERDUTY_LOCAL_EVENTS_RATE_LIMIT',
  'webhook-timeout-ms': 'PAGERDUTY_LOCAL_WEBHOOK_TIMEOUT_MS',
  'webhook-retry-base-ms': 'PAGERDUTY_LOCAL_WEBHOOK_RETRY_BASE_MS',
  'webhook-max-attempts': 'PAGERDUTY_LOCAL_WEBHOOK_MAX_ATTEMPTS',
  'public-url': 'PAGERDUTY_LOCAL_PUBLIC_URL',
  'log-level': 'LOG_LEVEL',
} as const satisfies Record<string, keyof CliConfig>;

const REPEATABLE = new Set(['webhook-secret', 'api-token', 'routing-key']);

export const USAGE = `Usage: npm run pagerduty-local -- --webhook-secret SECRET [options]

  --listen HOST:PORT          HTTP listener (default 127.0.0.1:3200)      PAGERDUTY_LOCAL_LISTEN
  --https-listen HOST:PORT    HTTPS listener or "off" (default 127.0.0.1:3243)  PAGERDUTY_LOCAL_HTTPS_LISTEN
  --state-dir DIR             generated CA/cert (default .lab/pagerduty-tls)  PAGERDUTY_LOCAL_STATE_DIR
  --webhook-url URL           v3 webhook subscription URL                  PAGERDUTY_LOCAL_WEBHOOK_URL
  --webhook-secret SECRET     signing secret, repeat for a rotation (req.) PAGERDUTY_LOCAL_WEBHOOK_SECRET
  --api-token TOKEN           accepted REST token, repeatable (default any) PAGERDUTY_LOCAL_API_TOKENS
  --routing-key KEY           integration key, repeatable                  PAGERDUTY_LOCAL_ROUTING_KEYS
  --rest-rate-limit N         REST requests/min/token (default 960)        PAGERDUTY_LOCAL_REST_RATE_LIMIT
  --events-rate-limit N       events/min/routing key (default 120)         PAGERDUTY_LOCAL_EVENTS_RATE_LIMIT
  --webhook-timeout-ms MS     (default 5000)                               PAGERDUTY_LOCAL_WEBHOOK_TIMEOUT_MS
  --webhook-retry-base-ms MS  (default 1000)                               PAGERDUTY_LOCAL_WEBHOOK_RETRY_BASE_MS
  --webhook-max-attempts N    (default 5)                                  PAGERDUTY_LOCAL_WEBHOOK_MAX_ATTEMPTS
  --public-url URL            base of self/html_url links                  PAGERDUTY_LOCAL_PUBLIC_URL
  --log-level LEVEL           (default info)                               LOG_LEVEL
`;

/** Merges flags over the environment and validates both with `cliSchema`. Throws ConfigError. */
export function parseCliConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CliConfig {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.keys(FLAGS).map((f) => [f, { type: 'string' as const, multiple: REPEATABLE.has(f) }]),
      ),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError('command line', [{ path: 'argv', message: (err as Error).message }]);
  }
  const raw: Record<string, string | undefined> = {};
  for (const key of Object.values(FLAGS)) raw[key] = env[key];
  for (const [flag, key] of Object.entries(FLAGS)) {
    const v = values[flag];
    if (v === undefined) continue;
    raw[key] = Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  const parsed = cliSchema.safeParse(raw);
  if (!parsed.success) {
    // zod's messages never echo the input, so secrets cannot leak into the error.
    const issues: ConfigIssue[] = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(root)',
      message: i.message,
    }));
    throw new ConfigError('PagerDuty stand-in configuration', issues);
  }
  return parsed.data;
}

/** The library options for a parsed configuration. */
export function optionsFromConfig(cfg: CliConfig): Omit<PagerDutyLocalOptions, 'log'> {
  const https = cfg.PAGERDUTY_LOCAL_HTTPS_LISTEN;
  return {
    http: cfg.PAGERDUTY_LOCAL_LISTEN,
    https: https === 'off' ? false : { ...https, stateDir: cfg.PAGERDUTY_LOCAL_STATE_DIR },
    webhook: {
      url: cfg.PAGERDUTY_LOCAL_WEBHOOK_URL,
      secrets: cfg.PAGERDUTY_LOCAL_WEBHOOK_SECRET,
      timeoutMs: cfg.PAGERDUTY_LOCAL_WEBHOOK_TIMEOUT_MS,
      retryBaseDelayMs: cfg.PAGERDUTY_LOCAL_WEBHOOK_RETRY_BASE_MS,
      maxAttempts: cfg.PAGERDUTY_LOCAL_WEBHOOK_MAX_ATTEMPTS,
    },
    apiTokens: cfg.PAGERDUTY_LOCAL_API_TOKENS,
    ...(cfg.PAGERDUTY_LOCAL_ROUTING_KEYS.length > 0 ? { routingKeys: cfg.PAGERDUTY_LOCAL_ROUTING_KEYS } : {}),
    restRateLimitPerMinute: cfg.PAGERDUTY_LOCAL_REST_RATE_LIMIT,
    eventsRateLimitPerMinute: cfg.PAGERDUTY_LOCAL_EVENTS_RATE_LIMIT,
    ...(cfg.PAGERDUTY_LOCAL_PUBLIC_URL === undefined ? {} : { publicUrl: cfg.PAGERDUTY_LOCAL_PUBLIC_URL }),
  };
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let cfg: CliConfig;
  try {
    cfg = parseCliConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pagerduty-local: ${err.message}\n\n${USAGE}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
  const log = createLogger({ name: 'pagerduty-local', level: cfg.LOG_LEVEL });
  const pd = await startPagerDutyLocal({ ...optionsFromConfig(cfg), log });
  log.info(
    {
      url: pd.url,
      httpsUrl: pd.httpsUrl ?? null,
      caCertPath: pd.caCertPath ?? null,
      routingKey: pd.routingKey,
      webhookUrl: cfg.PAGERDUTY_LOCAL_WEBHOOK_URL,
      health: `${pd.url}/_local/health`,
    },
    'PagerDuty stand-in ready',
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    pd.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main(process.argv.slice(2), process.env).catch((err: unknown) => {
    process.stderr.write(
      `pagerduty-local: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
