/**
 * `npm run slack-local`: the local Slack stand-in as a process.
 *
 * Flags override environment variables; both are validated by the one schema below. Ready when
 * `GET http://<listen>/_local/health` answers 200.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createLogger } from '../../observability/logger.js';
import { DEFAULT_BOT_URL, startSlackLocal } from './server.js';

const onOff = z
  .string()
  .trim()
  .toLowerCase()
  .refine((s) => ['on', 'off', 'true', 'false', '1', '0', 'yes', 'no'].includes(s), 'must be on or off')
  .transform((s) => ['on', 'true', '1', 'yes'].includes(s));

const httpUrl = z
  .string()
  .trim()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), 'must be an http(s) URL');

/** Every setting of the stand-in, by environment variable name (flags are mapped onto these). */
export const slackLocalConfigSchema = z.object({
  /** host:port the stand-in listens on; loopback by default. */
  SLACK_LOCAL_LISTEN: z
    .string()
    .trim()
    .regex(/^(\[[0-9A-Fa-f:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:3100')
    .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0…65535')
    .default('127.0.0.1:3100'),
  /** The bot's Request URL for slash commands and interactivity (Bolt serves both on /slack/events). */
  SLACK_LOCAL_BOT_URL: httpUrl.default(DEFAULT_BOT_URL),
  /** Signing secret shared with the bot; every request to the bot is signed with it. Required. */
  SLACK_SIGNING_SECRET: z
    .string({
      error: 'is required: the secret the bot verifies Slack requests with (set it or pass --signing-secret)',
    })
    .min(1, 'is required: the secret the bot verifies Slack requests with (set it or pass --signing-secret)'),
  /** Comma-separated accepted tokens; empty: any xoxb-… / xapp-… token is accepted. */
  SLACK_LOCAL_TOKENS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  /** Rate limit chat.postMessage per channel (on/off). */
  SLACK_LOCAL_RATE_LIMIT: onOff.default(true),
  /** Sustained chat.postMessage rate per channel, messages per second (Slack: about 1). */
  SLACK_LOCAL_RATE_PER_SEC: z.coerce.number().positive().max(1000).default(1),
  /** Burst: messages a channel may take at once after a quiet period. */
  SLACK_LOCAL_RATE_BURST: z.coerce.number().int().min(1).max(1000).default(3),
  /** Origin put into URLs handed out (response_url, upload_url); default: the listen address. */
  SLACK_LOCAL_PUBLIC_URL: httpUrl.optional(),
  /** How long to wait for the bot's answer, ms (Slack: 3000). */
  SLACK_LOCAL_BOT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
  /** pino log level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type SlackLocalConfig = z.infer<typeof slackLocalConfigSchema>;

const FLAGS = {
  listen: 'SLACK_LOCAL_LISTEN',
  'bot-url': 'SLACK_LOCAL_BOT_URL',
  'signing-secret': 'SLACK_SIGNING_SECRET',
  tokens: 'SLACK_LOCAL_TOKENS',
  'rate-limit': 'SLACK_LOCAL_RATE_LIMIT',
  rate: 'SLACK_LOCAL_RATE_PER_SEC',
  burst: 'SLACK_LOCAL_RATE_BURST',
  'public-url': 'SLACK_LOCAL_PUBLIC_URL',
  'bot-timeout-ms': 'SLACK_LOCAL_BOT_TIMEOUT_MS',
  'log-level': 'LOG_LEVEL',
} as const satisfies Record<string, keyof SlackLocalConfig>;

export const USAGE = `Usage: npm run slack-local -- [options]

  --listen HOST:PORT        SLACK_LOCAL_LISTEN          default 127.0.0.1:3100
  --bot-url URL             SLACK_LOCAL_BOT_URL         default ${DEFAULT_BOT_URL}
  --signing-secret SECRET   SLACK_SIGNING_SECRET        required
  --tokens T1,T2            SLACK_LOCAL_TOKENS          default: any xoxb-… / xapp-… token
  --rate-limit on|off       SLACK_LOCAL_RATE_LIMIT      default on
  --rate N                  SLACK_LOCAL_RATE_PER_SEC    chat.postMessage per channel per second, default 1
  --burst N                 SLACK_LOCAL_RATE_BURST      default 3
  --public-url URL          SLACK_LOCAL_PUBLIC_URL      origin used in response_url/upload_url
  --bot-timeout-ms N        SLACK_LOCAL_BOT_TIMEOUT_MS  default 3000 (as Slack)
  --log-level LEVEL         LOG_LEVEL                   default info
`;

export class SlackLocalConfigError extends Error {
  readonly code = 'slack_local_config_invalid';
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`slack-local configuration is invalid:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'SlackLocalConfigError';
    this.issues = issues;
  }
}

/** Parses flags over environment variables with the one schema. Never echoes a value back. */
export function parseSlackLocalConfig(
  env: Record<string, string | undefined>,
  argv: readonly string[],
): SlackLocalConfig {
  const options = Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    throw new SlackLocalConfigError([err instanceof Error ? err.message : String(err)]);
  }
  const merged: Record<string, string | undefined> = {};
  for (const [flag, name] of Object.entries(FLAGS)) {
    const fromFlag = values[flag];
    const value = typeof fromFlag === 'string' ? fromFlag : env[name];
    if (value !== undefined && value !== '') merged[name] = value;
  }
  const parsed = slackLocalConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const flagOf = (name: string) => Object.entries(FLAGS).find(([, n]) => n === name)?.[0];
    throw new SlackLocalConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '');
        const flag = flagOf(name);
        return `${name}${flag ? ` (--${flag})` : ''}: ${issue.message}`;
      }),
    );
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  let config: SlackLocalConfig;
  try {
    config = parseSlackLocalConfig(process.env, argv);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    process.exit(2);
  }
  const log = createLogger({ name: 'slack-local', level: config.LOG_LEVEL });
  const listen = config.SLACK_LOCAL_LISTEN;
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(colon + 1));
  const slack = await startSlackLocal({
    host,
    port,
    signingSecret: config.SLACK_SIGNING_SECRET,
    botUrl: config.SLACK_LOCAL_BOT_URL,
    tokens: config.SLACK_LOCAL_TOKENS,
    rateLimit: {
      enabled: config.SLACK_LOCAL_RATE_LIMIT,
      perSecond: config.SLACK_LOCAL_RATE_PER_SEC,
      burst: config.SLACK_LOCAL_RATE_BURST,
    },
    botTimeoutMs: config.SLACK_LOCAL_BOT_TIMEOUT_MS,
    ...(config.SLACK_LOCAL_PUBLIC_URL ? { publicUrl: config.SLACK_LOCAL_PUBLIC_URL } : {}),
    log,
  });
  log.info(
    {
      page: `${slack.url}/`,
      slackApiUrl: slack.apiUrl,
      botUrl: slack.botUrl(),
      ready: `${slack.url}/_local/health`,
    },
    'slack-local ready',
  );
  const stop = (signal: string) => {
    log.info({ signal }, 'slack-local stopping');
    slack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(resolve(entry)).href) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `slack-local failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  });
}
