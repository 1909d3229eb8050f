/**
 * The local Slack stand-in as one HTTP server: Web API (`/api/*`), upload URLs, response_urls,
 * Socket Mode WebSockets (`/link/`), the inspection API (`/_local/*`) and the chat page (`/`). `startSlackLocal()` is what the lab,
 * the tests and `main.ts` call.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type Logger, silentLogger } from '../../observability/logger.js';
import { createInspectionRouter } from './inspection.js';
import { Interactions } from './interactions.js';
import { DEFAULT_RATE_LIMIT, type RateLimitConfig, TokenBucketLimiter } from './rate-limit.js';
import { createSocketModeRouter, SocketModeHub } from './socket-mode.js';
import { SlackStore } from './store.js';
import { createWebApiRouter } from './web-api.js';

export const DEFAULT_SLACK_LOCAL_HOST = '127.0.0.1';
export const DEFAULT_SLACK_LOCAL_PORT = 3100;
export const DEFAULT_BOT_URL = 'http://127.0.0.1:3000/slack/events';

export interface SlackLocalOptions {
  /** Signing secret shared with the bot (Bolt's `signingSecret`). Required. */
  signingSecret: string;
  /** Listen address; loopback by default. */
  host?: string;
  /** Listen port; 0 picks a free one (tests). Default 3100. */
  port?: number;
  /** The app's Request URL for slash commands and interactivity (Bolt: `/slack/events`). */
  botUrl?: string;
  /** Accepted tokens. Unset or empty: any `xoxb-…` / `xapp-…` token; otherwise only these. */
  tokens?: readonly string[];
  /** chat.postMessage per-channel limit (default: on, 1/s, burst 3). */
  rateLimit?: Partial<RateLimitConfig>;
  /** How long Slack waits for the bot's answer or Socket Mode ack (3000 ms, like Slack). */
  botTimeoutMs?: number;
  /** How often Socket Mode connections are pinged (default 10 s). */
  socketPingIntervalMs?: number;
  /** Origin put into URLs handed out (response_url, upload_url, permalinks); default: the listen URL. */
  publicUrl?: string;
  log?: Logger;
  /** Clock (ms), for tests of expiry. */
  now?: () => number;
}

export interface SlackLocal {
  /** `http://host:port` */
  readonly url: string;
  /** `slackApiUrl` for WebClient / Bolt's `clientOptions`: `http://host:port/api/` */
  readonly apiUrl: string;
  readonly port: number;
  readonly store: SlackStore;
  readonly interactions: Interactions;
  readonly limiter: TokenBucketLimiter;
  /** Socket Mode connections; while one is open, deliveries go there instead of the Request URL. */
  readonly socketMode: SocketModeHub;
  /** Points commands and interactions at another Request URL (e.g. a bot started after us). */
  setBotUrl(url: string): void;
  botUrl(): string;
  close(): Promise<void>;
}

/** The page's static files: beside this module (tsx, tests) or in the source tree (built dist). */
function pageDir(): string {
  const here = fileURLToPath(new URL('./page/', import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL('../../../../src/dev/slack/page/', import.meta.url));
}

export async function startSlackLocal(options: SlackLocalOptions): Promise<SlackLocal> {
  if (!options.signingSecret) throw new Error('slack-local: a signing secret is required');
  const log = options.log ?? silentLogger;
  const store = new SlackStore(options.now ? { now: options.now } : {});
  const limiter = new TokenBucketLimiter({ ...DEFAULT_RATE_LIMIT, ...options.rateLimit }, options.now);
  let botUrl = options.botUrl ?? DEFAULT_BOT_URL;
  const socketMode = new SocketModeHub({
    store,
    log,
    ackTimeoutMs: options.botTimeoutMs ?? 3000,
    ...(options.socketPingIntervalMs ? { pingIntervalMs: options.socketPingIntervalMs } : {}),
  });
  const interactions = new Interactions({
    store,
    signingSecret: options.signingSecret,
    botUrl: () => botUrl,
    timeoutMs: options.botTimeoutMs ?? 3000,
    log,
    socketMode,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(createWebApiRouter({ store, limiter, tokens: options.tokens, log, socketMode }));
  const inspection = createInspectionRouter({ store, interactions, limiter, botUrl: () => botUrl });
  app.use(inspection.router);
  app.use(createSocketModeRouter(socketMode));

  const dir = pageDir();
  app.use('/assets', express.static(dir, { index: false, maxAge: 0 }));
  app.get(['/', '/archives/*splat', '/client/*splat'], (_req, res) => {
    res.sendFile('index.html', { root: dir });
  });

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', path: req.path });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    log.error({ err }, 'slack-local: request failed');
    if (!res.headersSent) res.status(500).json({ error: 'internal_error' });
  });

  const server: Server = app.listen(
    options.port ?? DEFAULT_SLACK_LOCAL_PORT,
    options.host ?? DEFAULT_SLACK_LOCAL_HOST,
  );
  server.on('upgrade', (req, socket, head) => socketMode.handleUpgrade(req, socket, head));
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      socketMode.close();
      throw err;
    }),
  ]);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  store.baseUrl = (options.publicUrl ?? url).replace(/\/+$/, '');
  log.info({ url, botUrl }, 'slack-local listening');

  return {
    url,
    apiUrl: `${url}/api/`,
    port: address.port,
    store,
    interactions,
    limiter,
    socketMode,
    setBotUrl: (next) => {
      botUrl = next;
    },
    botUrl: () => botUrl,
    close: async () => {
      inspection.closeStreams();
      socketMode.close();
      const closed = new Promise<void>((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
      server.closeAllConnections();
      await closed;
    },
  };
}
