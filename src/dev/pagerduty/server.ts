/**
 * `startPagerDutyLocal(options)`: the local PagerDuty stand-in, in process. The same application is
 * served over HTTP (REST clients with a `url`, the page, the inspection API) and HTTPS with a
 * generated local CA (clients that insist on HTTPS, such as pdjs's `event()`, which always builds
 * `https://${server}/v2/enqueue`).
 *
 * The returned handle exposes the in-memory store and the webhook dispatcher so tests can inspect
 * and drive state directly; `close()` stops both servers and cancels pending webhooks.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type Logger, silentLogger } from '../../observability/logger.js';
import { createPagerDutyApp, wireWebhooks } from './app.js';
import { FixedWindowLimiter, SlidingWindowLimiter } from './rate-limit.js';
import type { Urls } from './render.js';
import { DEFAULT_ROUTING_KEY, SEED, SEED_IDS, type Seed } from './seed.js';
import { PagerDutyStore } from './store.js';
import { ensureLocalTls } from './tls.js';
import { WebhookDispatcher } from './webhooks.js';

export const DEFAULT_HTTP_LISTEN = { host: '127.0.0.1', port: 3200 } as const;
export const DEFAULT_HTTPS_LISTEN = { host: '127.0.0.1', port: 3243 } as const;
export const DEFAULT_TLS_STATE_DIR = '.lab/pagerduty-tls';
export const DEFAULT_WEBHOOK_URL = 'http://127.0.0.1:3000/webhooks/pagerduty';

export interface PagerDutyLocalOptions {
  /** HTTP listener. Default 127.0.0.1:3200; port 0 picks a free port. */
  readonly http?: { readonly host?: string; readonly port?: number };
  /**
   * HTTPS listener with a generated local CA (kept in `stateDir`, default `.lab/pagerduty-tls`,
   * generated once and reused). Default 127.0.0.1:3243. `false` serves HTTP only.
   */
  readonly https?: { readonly host?: string; readonly port?: number; readonly stateDir?: string } | false;
  /** The v3 webhook subscription and its delivery behaviour. */
  readonly webhook: {
    /** Default http://127.0.0.1:3000/webhooks/pagerduty. */
    readonly url?: string;
    /** Signing secrets: one, or two during a rotation. Required. */
    readonly secrets: readonly string[];
    /** `X-Webhook-Subscription`. Default PQNWSUB. */
    readonly subscriptionId?: string;
    readonly customHeaders?: readonly { readonly name: string; readonly value: string }[];
    /** Default 5000 ms (PagerDuty's). */
    readonly timeoutMs?: number;
    /** Default 1000 ms; doubles per attempt. */
    readonly retryBaseDelayMs?: number;
    readonly retryMaxDelayMs?: number;
    /** Default 5. */
    readonly maxAttempts?: number;
  };
  /** Accepted REST API tokens. Empty or absent: any well-formed token is accepted. */
  readonly apiTokens?: readonly string[];
  /**
   * Integration keys of "QNWIS Production" (the first is the one reported as `routingKey`).
   * Absent: DEFAULT_ROUTING_KEY, and any other well-formed key is accepted too (routed to the same
   * service, dedup state per key). Given: only these keys; others get 400 "Invalid routing key".
   */
  readonly routingKeys?: readonly string[];
  /** Overrides the default described at `routingKeys`. */
  readonly acceptAnyRoutingKey?: boolean;
  /** REST requests per minute per token. Default 960. */
  readonly restRateLimitPerMinute?: number;
  /** Events per minute per routing key. Default 120. */
  readonly eventsRateLimitPerMinute?: number;
  /** Base of `self`/`html_url` links. Default: the HTTP URL. */
  readonly publicUrl?: string;
  readonly seed?: Seed;
  /** Milliseconds since the epoch; used by the store, the limiters and the dispatcher. */
  readonly now?: () => number;
  readonly log?: Logger;
}

export interface PagerDutyLocal {
  /** HTTP base URL, e.g. http://127.0.0.1:3200 (REST API, page, inspection API, Events API). */
  readonly url: string;
  /** HTTPS base URL, e.g. https://127.0.0.1:3243, or undefined when HTTPS is off. */
  readonly httpsUrl: string | undefined;
  /** `host:port` of the HTTPS listener: pdjs `event({ server })`. */
  readonly eventsServer: string | undefined;
  /** PEM of the local CA that signed the HTTPS certificate. */
  readonly caCertPem: string | undefined;
  readonly caCertPath: string | undefined;
  /** The service's (first) routing key. */
  readonly routingKey: string;
  readonly ids: typeof SEED_IDS;
  readonly store: PagerDutyStore;
  readonly webhooks: WebhookDispatcher;
  /** Same as POST /_local/reset. */
  reset(): void;
  close(): Promise<void>;
}

function listen(server: http.Server | https.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startPagerDutyLocal(options: PagerDutyLocalOptions): Promise<PagerDutyLocal> {
  const now = options.now ?? Date.now;
  const log = options.log ?? silentLogger;
  const seed = options.seed ?? SEED;
  const serviceId = seed.services[0]?.id;
  if (serviceId === undefined) throw new Error('the seed needs at least one service');
  const routingKeys = options.routingKeys ?? [DEFAULT_ROUTING_KEY];
  const firstRoutingKey = routingKeys[0];
  if (firstRoutingKey === undefined) throw new Error('routingKeys must not be empty');

  const store = new PagerDutyStore({
    seed,
    now,
    routingKeys: routingKeys.map((routingKey) => ({ routingKey, serviceId })),
    acceptAnyRoutingKey: options.acceptAnyRoutingKey ?? options.routingKeys === undefined,
  });
  const webhooks = new WebhookDispatcher({
    subscription: {
      id: options.webhook.subscriptionId ?? SEED_IDS.webhookSubscription,
      url: options.webhook.url ?? DEFAULT_WEBHOOK_URL,
      secrets: options.webhook.secrets,
      ...(options.webhook.customHeaders === undefined
        ? {}
        : { customHeaders: options.webhook.customHeaders }),
    },
    ...(options.webhook.timeoutMs === undefined ? {} : { timeoutMs: options.webhook.timeoutMs }),
    ...(options.webhook.retryBaseDelayMs === undefined
      ? {}
      : { retryBaseDelayMs: options.webhook.retryBaseDelayMs }),
    ...(options.webhook.retryMaxDelayMs === undefined
      ? {}
      : { retryMaxDelayMs: options.webhook.retryMaxDelayMs }),
    ...(options.webhook.maxAttempts === undefined ? {} : { maxAttempts: options.webhook.maxAttempts }),
    now,
    log: log.child({ component: 'webhooks' }),
  });
  const restLimiter = new FixedWindowLimiter(options.restRateLimitPerMinute ?? 960, 60_000, now);
  const eventsLimiter = new SlidingWindowLimiter(options.eventsRateLimitPerMinute ?? 120, 60_000, now);

  // Filled in once the HTTP port is known, before the handle is returned.
  const urls: { apiBase: string } = { apiBase: options.publicUrl ?? 'http://127.0.0.1' };
  let httpsInfo: { url: string; server: string; caCertPem: string; caCertPath: string } | undefined;
  let httpUrl = '';

  wireWebhooks(store, webhooks, urls as Urls);
  const app = createPagerDutyApp({
    store,
    webhooks,
    urls,
    restLimiter,
    eventsLimiter,
    apiTokens: options.apiTokens ?? [],
    log,
    info: () => ({
      url: httpUrl,
      httpsUrl: httpsInfo?.url,
      caCertPem: httpsInfo?.caCertPem,
      routingKey: firstRoutingKey,
    }),
  });

  const httpServer = http.createServer(app);
  let httpsServer: https.Server | undefined;
  try {
    const httpHost = options.http?.host ?? DEFAULT_HTTP_LISTEN.host;
    const httpAddr = await listen(httpServer, httpHost, options.http?.port ?? DEFAULT_HTTP_LISTEN.port);
    httpUrl = `http://${hostForUrl(httpHost)}:${httpAddr.port}`;
    if (options.publicUrl === undefined) urls.apiBase = httpUrl;

    if (options.https !== false) {
      const httpsOpts = options.https ?? {};
      const tls = await ensureLocalTls(httpsOpts.stateDir ?? DEFAULT_TLS_STATE_DIR);
      if (tls.generated) log.info({ dir: tls.dir }, 'generated a local CA and server certificate');
      httpsServer = https.createServer({ key: tls.keyPem, cert: tls.certPem }, app);
      const httpsHost = httpsOpts.host ?? DEFAULT_HTTPS_LISTEN.host;
      const httpsAddr = await listen(httpsServer, httpsHost, httpsOpts.port ?? DEFAULT_HTTPS_LISTEN.port);
      const server = `${hostForUrl(httpsHost)}:${httpsAddr.port}`;
      httpsInfo = { url: `https://${server}`, server, caCertPem: tls.caCertPem, caCertPath: tls.caCertPath };
    }
  } catch (err) {
    await closeServer(httpServer);
    if (httpsServer !== undefined) await closeServer(httpsServer);
    throw err;
  }

  const reset = () => {
    store.reset();
    webhooks.reset();
    restLimiter.reset();
    eventsLimiter.reset();
  };

  let closing: Promise<void> | undefined;
  return {
    url: httpUrl,
    httpsUrl: httpsInfo?.url,
    eventsServer: httpsInfo?.server,
    caCertPem: httpsInfo?.caCertPem,
    caCertPath: httpsInfo?.caCertPath,
    routingKey: firstRoutingKey,
    ids: SEED_IDS,
    store,
    webhooks,
    reset,
    close: () => {
      closing ??= (async () => {
        await webhooks.close();
        await closeServer(httpServer);
        if (httpsServer !== undefined) await closeServer(httpsServer);
      })();
      return closing;
    },
  };
}
