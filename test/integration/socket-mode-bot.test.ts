/**
 * The bot's server (src/server.ts) in Socket Mode against the Slack stand-in, with the real store
 * and queues behind it: a refused app token stops start-up naming SLACK_APP_TOKEN; Slack being away
 * at start-up does not stop the HTTP side (webhooks, health), and Socket Mode connects once Slack
 * is there; a recycled connection is re-dialled; closing the server ends Socket Mode too.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/index.js';
import { ConfigError } from '../../src/errors.js';
import { createRouter, DEFAULT_ROUTES } from '../../src/incidents/routing.js';
import { DEFAULT_SEVERITY_POLICY } from '../../src/incidents/severity.js';
import { createQueues, type Queues } from '../../src/jobs/queues.js';
import { createLogger } from '../../src/observability/logger.js';
import { type BotServer, createServer } from '../../src/server.js';
import { IncidentStore } from '../../src/store/incidents.js';
import { eventually, freePort } from '../support/bot.js';
import { labInventory } from '../support/lab.js';
import { createTestStore, type TestStore } from '../support/store.js';

const SECRET = 'socket-mode-bot-signing-secret';
const APP_TOKEN = 'xapp-1-A0QNWISAPP-1-botserver';

let store: TestStore;
let redis: Redis;
let queues: Queues;
const logLines: string[] = [];
const log = createLogger({
  level: 'info',
  destination: { write: (line: string) => logLines.push(line) } as unknown as NodeJS.WritableStream,
});

beforeAll(async () => {
  store = await createTestStore();
  redis = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: 1 });
  queues = createQueues(redis, `{sm${randomBytes(4).toString('hex')}}`);
});

afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await store?.drop();
});

function botServer(
  slackApiUrl: string,
  opts: { appToken?: string; connectTimeoutMs?: number } = {},
): BotServer {
  const incidents = new IncidentStore(store.db);
  const server = createServer({
    signingSecret: SECRET,
    slackToken: 'xoxb-socket-mode-bot',
    slackApiUrl,
    appToken: opts.appToken ?? APP_TOKEN,
    socketModeConnectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    store: incidents,
    log,
    heartbeatAlert: 'Watchdog',
    opsToken: undefined,
    inventory: labInventory(),
    requests: null,
    alertmanager: {
      token: 'socket-mode-bot-webhook-token',
      store: incidents,
      queues,
      paging: false,
      pagingFallbackMs: 5000,
      diagnose: false,
      context: {
        router: createRouter(DEFAULT_ROUTES, 'qnwis-alerts'),
        appHosts: ['app-01', 'app-02', 'app-03'],
        policy: DEFAULT_SEVERITY_POLICY,
        heartbeatAlerts: new Set(['Watchdog']),
      },
    },
    pagerduty: null,
  });
  server.app.command('/qnwis', async ({ command, ack }) => {
    await ack({ response_type: 'ephemeral', text: `pong ${command.text}` });
  });
  return server;
}

function close(http: Server): Promise<void> {
  return new Promise((resolve) => http.close(() => resolve()));
}

function command(slack: SlackLocal, text: string) {
  return slack.interactions.command({ user: 'oncall', channel: 'qnwis-ops', command: '/qnwis', text });
}

describe('the bot in Socket Mode', () => {
  it('a refused app token stops start-up, names SLACK_APP_TOKEN, and leaves the port free', async () => {
    const slack = await startSlackLocal({ signingSecret: SECRET, port: 0, tokens: ['xapp-1-the-right-one'] });
    try {
      const port = await freePort();
      const err = await botServer(slack.apiUrl)
        .listen(port, '127.0.0.1')
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toEqual([
        { path: 'SLACK_APP_TOKEN', message: 'Slack refused it at apps.connections.open (invalid_auth)' },
      ]);
      expect(String((err as Error).message)).not.toContain(APP_TOKEN);
      expect(logLines.join('\n')).not.toContain(APP_TOKEN);
      // The HTTP side it had opened is closed again: the same port can be taken.
      const again = botServer(slack.apiUrl, { appToken: 'xapp-1-the-right-one' });
      await close(await again.listen(port, '127.0.0.1'));
    } finally {
      await slack.close();
    }
  });

  it('Slack away at start-up: webhooks and health answer at once; Socket Mode connects when Slack is back', async () => {
    const slackPort = await freePort();
    const server = botServer(`http://127.0.0.1:${slackPort}/api/`, { connectTimeoutMs: 300 });
    const http = await server.listen(0, '127.0.0.1');
    let slack: SlackLocal | undefined;
    try {
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const webhook = await fetch(`${base}/webhooks/alertmanager`, {
        method: 'POST',
        headers: { authorization: 'Bearer wrong' },
        body: '{}',
      });
      expect(webhook.status).toBe(401);
      expect(logLines.some((l) => l.includes('Slack Socket Mode is not connected yet'))).toBe(true);

      slack = await startSlackLocal({ signingSecret: SECRET, port: slackPort });
      const running = slack;
      await eventually('the bot to connect', async () => running.socketMode.connected(), 20_000);
      expect(await command(running, 'late')).toMatchObject({
        status: 200,
        transport: 'socket_mode',
        body: { text: 'pong late' },
      });
    } finally {
      await close(http);
      if (slack) {
        const running = slack;
        await eventually('the bot to hang up', async () => !running.socketMode.connected());
        await running.close();
      }
    }
  }, 40_000);

  it('re-dials after Slack recycles the connection; closing the server hangs up', async () => {
    const slack = await startSlackLocal({ signingSecret: SECRET, port: 0 });
    const server = botServer(slack.apiUrl);
    const http = await server.listen(0, '127.0.0.1');
    try {
      expect(slack.socketMode.connections()).toHaveLength(1);
      const first = slack.socketMode.connections()[0]?.id;
      // Nothing serves Slack's Request URL in Socket Mode.
      const port = (http.address() as AddressInfo).port;
      expect((await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST' })).status).toBe(404);

      expect(slack.socketMode.disconnect('refresh_requested')).toBe(1);
      await eventually(
        'a new connection',
        async () => {
          const now = slack.socketMode.connections();
          return now.length === 1 && now[0]?.id !== first;
        },
        20_000,
      );
      expect(await command(slack, 'again')).toMatchObject({ status: 200, transport: 'socket_mode' });

      await close(http);
      await eventually('the bot to hang up', async () => !slack.socketMode.connected());
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    } finally {
      if (http.listening) http.close();
      await slack.close();
    }
  }, 40_000);
});
