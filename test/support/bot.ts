/**
 * The real bot (src/main.ts `run`), in-process, for integration tests: its own schema in the test
 * database, its own BullMQ prefix on the machine's Redis, a free port, and local Slack/PagerDuty
 * stand-ins on free ports. Nothing shared with the lab or other test files.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Lab } from '../../lab/lab.js';
import { type PagerDutyLocal, startPagerDutyLocal } from '../../src/dev/pagerduty/index.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/index.js';
import { loadStartup, type Running, run } from '../../src/main.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import { TEST_DATABASE_URL } from './store.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface TestBot {
  url: string;
  token: string;
  opsToken: string;
  schema: string;
  prefix: string;
  slack: SlackLocal;
  pagerduty: PagerDutyLocal;
  pagerdutySecret: string;
  running: Running;
  db: pg.Pool;
  /** Restart the bot process part (same schema, queue and stand-ins); `whileDown`: ms to wait, or what to do meanwhile. */
  restart(whileDown?: number | (() => Promise<void>)): Promise<void>;
  /** Slack's signing secret (to sign a replayed interaction by hand). */
  signingSecret: string;
  /** A second bot replica on its own port: same database schema, queue prefix and stand-ins. */
  replica(): Promise<{ url: string; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  env?: Record<string, string>;
  /** Give the bot the lab's real credentials, so its diagnostics can reach the fleet. */
  fleet?: boolean;
  slackRate?: { perSecond: number; burst: number };
}

export async function startTestBot(opts: TestBotOptions = {}): Promise<TestBot> {
  const id = randomBytes(6).toString('hex');
  const schema = `bot_${id}`;
  const prefix = `{t${id}}`;
  const port = await freePort();
  const signingSecret = randomBytes(16).toString('hex');
  const pagerdutySecret = randomBytes(16).toString('hex');
  const token = randomBytes(16).toString('hex');
  const opsToken = randomBytes(16).toString('hex');
  const slack = await startSlackLocal({
    signingSecret,
    port: 0,
    botUrl: `http://127.0.0.1:${port}/slack/events`,
    ...(opts.slackRate ? { rateLimit: { enabled: true, ...opts.slackRate } } : {}),
  });
  const pagerduty = await startPagerDutyLocal({
    http: { port: 0 },
    https: false,
    webhook: {
      url: `http://127.0.0.1:${port}/webhooks/pagerduty`,
      secrets: [pagerdutySecret],
      retryBaseDelayMs: 100,
    },
  });
  const labEnv = opts.fleet ? ((await new Lab().status()).botEnv ?? {}) : {};
  const env: Record<string, string> = {
    LOG_LEVEL: 'silent',
    PORT: String(port),
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: 'redis://127.0.0.1:6379/0',
    QUEUE_PREFIX: prefix,
    ALERTMANAGER_WEBHOOK_TOKEN: token,
    QNWIS_DB_PASSWORD: labEnv.QNWIS_DB_PASSWORD ?? 'unused',
    QNWIS_ADMIN_TOKEN: labEnv.QNWIS_ADMIN_TOKEN ?? 'unused',
    SLACK_API_URL: slack.apiUrl,
    SLACK_SIGNING_SECRET: signingSecret,
    PAGERDUTY_EVENTS_URL: pagerduty.url,
    PAGERDUTY_API_URL: pagerduty.url,
    PAGERDUTY_ROUTING_KEY: pagerduty.routingKey,
    PAGERDUTY_WEBHOOK_SECRETS: pagerdutySecret,
    PAGERDUTY_API_TOKEN: 'test-rest-api-token',
    PAGERDUTY_FROM: 'chatops-bot@qnwis.lab',
    PAGERDUTY_ESCALATION_POLICY_ID: pagerduty.ids.escalationPolicy,
    OPS_TOKEN: opsToken,
    // Reconciliation against the lab's Alertmanager would resolve alerts tests post directly.
    RECONCILE_INTERVAL_SEC: '0',
    // Scheduled duties and the dead-man switch post and open incidents on their own clock; a test
    // that wants one turns it on (their own tests do).
    DUTY_BACKUP_CHECK_CRON: 'off',
    DUTY_SLO_DIGEST_CRON: 'off',
    DUTY_ERROR_LOG_REVIEW_CRON: 'off',
    DUTY_MAINTENANCE_CHECK_SEC: '0',
    WATCHDOG_CHECK_SEC: '0',
    ...opts.env,
  };
  const startup = loadStartup([], env);
  const log = process.env.TEST_BOT_LOG ? createLogger({ level: process.env.TEST_BOT_LOG }) : silentLogger;
  let running = await run(startup, log, { schema });
  const db = new pg.Pool({
    connectionString: TEST_DATABASE_URL,
    options: `-c search_path=${schema}`,
    max: 3,
  });
  const bot: TestBot = {
    url: `http://127.0.0.1:${port}`,
    token,
    opsToken,
    schema,
    prefix,
    slack,
    pagerduty,
    pagerdutySecret,
    db,
    get running() {
      return running;
    },
    async restart(whileDown = 0) {
      await running.stop();
      if (typeof whileDown === 'function') await whileDown();
      else if (whileDown > 0) await new Promise((r) => setTimeout(r, whileDown));
      running = await run(startup, log, { schema });
    },
    signingSecret,
    async replica() {
      const replicaPort = await freePort();
      const other = await run(loadStartup([], { ...env, PORT: String(replicaPort) }), log, { schema });
      return { url: `http://127.0.0.1:${replicaPort}`, stop: () => other.stop() };
    },
    async stop() {
      await running.stop();
      await db.query(`DROP SCHEMA ${pg.escapeIdentifier(schema)} CASCADE`).catch(() => undefined);
      await db.end();
      await slack.close();
      await pagerduty.close();
      const redis = new Redis('redis://127.0.0.1:6379/0');
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    },
  };
  return bot;
}

/** An Alertmanager-shaped notification for one alert (what Alertmanager 0.25 sends). */
export function notification(
  alertname: string,
  opts: {
    status?: 'firing' | 'resolved';
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    startsAt?: string;
    fingerprint?: string;
    groupKey?: string;
  } = {},
) {
  const labels = { alertname, ...opts.labels };
  const status = opts.status ?? 'firing';
  const startsAt = opts.startsAt ?? '2026-11-27T21:00:00.000Z';
  return {
    receiver: 'qnwis-chatops',
    status,
    alerts: [
      {
        status,
        labels,
        annotations: { summary: `${alertname} on ${opts.labels?.host ?? 'the fleet'}`, ...opts.annotations },
        startsAt,
        endsAt: status === 'resolved' ? '2026-11-27T21:10:00.000Z' : '0001-01-01T00:00:00Z',
        generatorURL: `http://127.0.0.1:9090/graph?g0.expr=${encodeURIComponent('up == 0')}&g0.tab=1`,
        fingerprint: opts.fingerprint ?? randomBytes(8).toString('hex'),
      },
    ],
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://127.0.0.1:9093',
    version: '4',
    groupKey: opts.groupKey ?? `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
  };
}

export async function postAlertmanager(bot: TestBot, body: unknown, token = bot.token) {
  const res = await fetch(`${bot.url}/webhooks/alertmanager`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      'user-agent': 'Alertmanager/0.25.0',
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

export interface SlackMessageView {
  channel: string;
  ts: string;
  thread_ts: string | null;
  text: string;
  blocks?: unknown[];
}

/** A channel message, not a thread reply (Slack sets thread_ts = ts on a thread's parent). */
export function isTopLevel(m: SlackMessageView): boolean {
  return !m.thread_ts || m.thread_ts === m.ts;
}

export async function slackMessages(bot: TestBot, channel: string): Promise<SlackMessageView[]> {
  const res = await fetch(`${bot.slack.url}/_local/messages?channel=${encodeURIComponent(channel)}`);
  return (await res.json()) as SlackMessageView[];
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
