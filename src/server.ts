/**
 * The bot's one HTTP port: Bolt's ExpressReceiver (`POST /slack/events`) on an express app that
 * also carries the webhooks and health. With an app-level token Slack comes over Socket Mode
 * instead (SocketModeReceiver; no `/slack/events`), and the same port still serves the webhooks
 * and health. Transport only: routes verify, parse, hand off.
 */
import type { Server } from 'node:http';
import { App, ExpressReceiver, LogLevel, SocketModeReceiver } from '@slack/bolt';
import { type WebAPIPlatformError, ErrorCode as WebApiErrorCode } from '@slack/web-api';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { CommandRequests } from './approvals/service.js';
import { REQUEST_ACTIONS, requestButtonValue } from './bot/blocks/approval-message.js';
import { registerIncidentActions } from './bot/incident-actions.js';
import type { IncidentResponse } from './bot/incident-response.js';
import {
  type ProposedActionValue,
  proposedActionReply,
  proposedActionValue,
} from './bot/proposed-actions.js';
import { slackLoggerFor } from './bot/slack-logger.js';
import { ConfigError } from './errors.js';
import { type AlertmanagerHandlerDeps, alertmanagerHandler } from './handlers/alertmanager.js';
import { type PagerDutyHandlerDeps, pagerdutyHandler } from './handlers/pagerduty.js';
import type { Inventory } from './inventory.js';
import { healthRoutes } from './observability/health.js';
import type { Logger } from './observability/logger.js';
import { webhooksTotal } from './observability/metrics.js';
import { argsFromButton, parseCommand } from './ops/commands/catalog.js';
import type { IncidentStore } from './store/incidents.js';

/** Alertmanager bodies above this are refused with 413 (CONTRACTS: 1 MiB). */
export const WEBHOOK_BODY_LIMIT = '1mb';

export interface ServerDeps {
  signingSecret: string;
  slackToken: string;
  slackApiUrl: string;
  /** App-level token (xapp-…): Slack over Socket Mode instead of `POST /slack/events`. */
  appToken?: string | undefined;
  /** How long `listen` waits for the first Socket Mode connection before going on without it. */
  socketModeConnectTimeoutMs?: number;
  alertmanager: Omit<AlertmanagerHandlerDeps, 'log'>;
  pagerduty: Omit<PagerDutyHandlerDeps, 'log'> | null;
  store: IncidentStore;
  log: Logger;
  heartbeatAlert: string;
  /** The heartbeat is missing after this long (WATCHDOG_MAX_SILENCE_SEC); default 5 min. */
  heartbeatMaxAgeMs?: number;
  /** Bearer token for /health/detailed and /metrics. */
  opsToken: string | undefined;
  inventory: Inventory;
  /** Command requests (approve/reject/cancel, proposed fixes); null: proposed fixes only describe. */
  requests: CommandRequests | null;
  /** The incident controls (acknowledge, resolve, escalate now, snooze, reassign); null: not offered. */
  incidentResponse?: IncidentResponse | null;
}

export interface BotServer {
  app: App;
  express: express.Express;
  listen(port: number, host: string): Promise<Server>;
}

export function createServer(deps: ServerDeps): BotServer {
  const web = express();
  web.disable('x-powered-by');
  const raw = express.raw({ type: '*/*', limit: WEBHOOK_BODY_LIMIT });

  web.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const health = healthRoutes({
    token: deps.opsToken,
    store: deps.store,
    queues: deps.alertmanager.queues,
    heartbeatAlert: deps.heartbeatAlert,
    heartbeatMaxAgeMs: deps.heartbeatMaxAgeMs ?? 5 * 60_000,
  });
  web.get('/health/detailed', asyncRoute(health.detailed));
  web.get('/metrics', asyncRoute(health.metrics));
  web.post(
    '/webhooks/alertmanager',
    raw,
    asyncRoute(alertmanagerHandler({ ...deps.alertmanager, log: deps.log })),
  );
  if (deps.pagerduty) {
    web.post('/webhooks/pagerduty', raw, asyncRoute(pagerdutyHandler({ ...deps.pagerduty, log: deps.log })));
  } else {
    web.post('/webhooks/pagerduty', (_req, res) => {
      res.status(503).json({ error: 'pagerduty_not_configured' });
    });
  }

  const socketMode = deps.appToken
    ? new SocketModeReceiver({
        appToken: deps.appToken,
        logger: slackLoggerFor(deps.log.child({ component: 'slack-socket-mode' })),
        installerOptions: {
          // apps.connections.open is retried for as long as Slack is away (backing off to 30 s),
          // never given up on: a bot that stops reconnecting silently stops hearing Slack.
          clientOptions: { slackApiUrl: deps.slackApiUrl, retryConfig: SOCKET_MODE_RETRY },
        },
      })
    : null;
  const receiver =
    socketMode ??
    new ExpressReceiver({
      signingSecret: deps.signingSecret,
      endpoints: '/slack/events',
      app: web,
      logLevel: LogLevel.WARN,
    });
  const app = new App({
    token: deps.slackToken,
    receiver,
    ...(socketMode ? { socketMode: true } : {}),
    clientOptions: { slackApiUrl: deps.slackApiUrl, retryConfig: { retries: 1 } },
    // Bolt's auth.test at start-up would make the bot depend on Slack being up to receive alerts.
    tokenVerificationEnabled: false,
  });
  // Link buttons (graph, silence, PagerDuty) open their URL; Slack still sends the click, which
  // must be acknowledged or the user sees an error mark.
  app.action(/^incident\.link\./, async ({ ack }) => {
    await ack();
  });
  // A playbook's proposed fix: a request for that command, in the incident's thread. Without the
  // request machinery (tests of the intake alone) it says what it would run.
  app.action(/^incident\.propose\./, async ({ ack, body, action, respond }) => {
    await ack();
    const ephemeral = (text: string) =>
      respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
        deps.log.warn({ err }, 'ephemeral reply failed'),
      );
    const parsed = proposedActionValue.safeParse(jsonValue(action));
    if (!parsed.success) {
      await ephemeral('That button is not one I made.');
      return;
    }
    if (!deps.requests) {
      await ephemeral(proposedActionReply(parsed.data, body.user.id, deps.inventory));
      return;
    }
    try {
      await ephemeral(await requestProposedFix(deps, parsed.data, body));
    } catch (err) {
      deps.log.error({ err, button: parsed.data }, 'proposed fix could not be requested');
      await ephemeral('Something went wrong while planning that fix; nothing was changed. See the bot log.');
    }
  });
  // Approve / Reject / Cancel on an approval message. Answers go only to the person who clicked;
  // the approval message itself is re-rendered for everyone.
  for (const [verb, actionId] of Object.entries(REQUEST_ACTIONS) as [
    keyof typeof REQUEST_ACTIONS,
    string,
  ][]) {
    app.action(actionId, async ({ ack, body, action, respond }) => {
      await ack();
      const ephemeral = (text: string) =>
        respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
          deps.log.warn({ err }, 'ephemeral reply failed'),
        );
      const value = requestButtonValue.safeParse(jsonValue(action));
      if (!value.success || !deps.requests) {
        await ephemeral('That button is not one I made.');
        return;
      }
      const asker = { id: body.user.id, name: userName(body) };
      try {
        const text =
          verb === 'approve'
            ? await deps.requests.approve(value.data.r, asker, value.data.h)
            : verb === 'reject'
              ? await deps.requests.reject(value.data.r, asker)
              : await deps.requests.cancel(value.data.r, asker);
        await ephemeral(text);
      } catch (err) {
        deps.log.error({ err, request: value.data.r, verb }, 'request action failed');
        await ephemeral(`Something went wrong with ${verb} on ${value.data.r}; see the bot log.`);
      }
    });
  }
  if (deps.incidentResponse) registerIncidentActions(app, deps.incidentResponse, deps.log);
  app.error(async (err) => {
    deps.log.error({ err }, 'slack listener failed');
  });

  // Body too large, malformed framing: answered here, never a crash. 413 for size (Alertmanager
  // drops it: resending the same body can never fit).
  web.use(
    (err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
      if (err.type === 'entity.too.large') {
        const source = _req.path.includes('pagerduty') ? 'pagerduty' : 'alertmanager';
        webhooksTotal.inc({ source, outcome: 'too_large' });
        res.status(413).json({ error: 'payload_too_large', limit: WEBHOOK_BODY_LIMIT });
        return;
      }
      deps.log.error({ err }, 'request failed');
      res.status(err.status && err.status < 500 ? err.status : 500).json({ error: 'request_failed' });
    },
  );

  return {
    app,
    express: web,
    async listen(port, host) {
      const server = await new Promise<Server>((resolve, reject) => {
        const listening = web.listen(port, host, () => resolve(listening));
        listening.once('error', reject);
      });
      if (!socketMode) return server;
      let stopping = false;
      try {
        await connectSocketMode(app, deps.log, deps.socketModeConnectTimeoutMs ?? 10_000, () => stopping);
      } catch (err) {
        stopping = true;
        await socketMode.client.disconnect();
        await new Promise((resolve) => server.close(resolve));
        throw err;
      }
      // Whoever stops the bot closes this server; Socket Mode ends first, so no Slack command
      // arrives that the closing bot can no longer serve.
      const closeHttp = server.close.bind(server);
      server.close = ((callback?: (err?: Error) => void) => {
        stopping = true;
        socketMode.client
          .disconnect()
          .catch((err: unknown) => deps.log.warn({ err }, 'Socket Mode did not disconnect cleanly'))
          .finally(() => closeHttp(callback));
        return server;
      }) as Server['close'];
      return server;
    },
  };
}

/** `forever`: see SocketModeReceiver above; `unref`: a pending retry never keeps the process alive. */
const SOCKET_MODE_RETRY = { forever: true, factor: 1.5, minTimeout: 1000, maxTimeout: 30_000, unref: true };

/** Slack's answers to apps.connections.open that no retry can fix: the token itself is wrong. */
const REFUSED_APP_TOKEN = new Set([
  'not_authed',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'user_removed_from_team',
  'team_disabled',
]);

/**
 * Connects Socket Mode and waits for Slack's hello, at most `timeoutMs`: a refused app token
 * stops start-up (ConfigError, the operator must fix it); Slack being away does not (the alert
 * webhooks must keep working), it is logged and the client keeps reconnecting in the background.
 */
async function connectSocketMode(
  app: App,
  log: Logger,
  timeoutMs: number,
  stopping: () => boolean,
): Promise<void> {
  const connecting = app.start().then(
    () => null,
    (err: unknown) => err ?? new Error('Socket Mode stopped before it connected'),
  );
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'waiting'>((resolve) => {
    timer = setTimeout(() => resolve('waiting'), timeoutMs);
  });
  const first = await Promise.race([connecting, waited]);
  clearTimeout(timer);
  if (first === null) {
    log.info('connected to Slack over Socket Mode');
    return;
  }
  if (first === 'waiting') {
    log.warn(
      { timeoutMs },
      'Slack Socket Mode is not connected yet: Slack commands and buttons fail until it is; still trying',
    );
    void connecting.then((err) => {
      if (stopping()) return;
      if (err)
        log.error({ err }, 'Slack Socket Mode gave up connecting; restart the bot once Slack is reachable');
      else log.info('connected to Slack over Socket Mode');
    });
    return;
  }
  const code = (first as Partial<WebAPIPlatformError>).data?.error;
  if (
    (first as { code?: string }).code === WebApiErrorCode.PlatformError &&
    code &&
    REFUSED_APP_TOKEN.has(code)
  ) {
    throw new ConfigError('Slack Socket Mode', [
      { path: 'SLACK_APP_TOKEN', message: `Slack refused it at apps.connections.open (${code})` },
    ]);
  }
  throw first;
}

function asyncRoute(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next);
  };
}

function jsonValue(action: { type: string; value?: string }): unknown {
  const raw = action.type === 'button' ? action.value : undefined;
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

function userName(body: { user: { id: string; name?: string; username?: string } }): string | null {
  return body.user.username ?? body.user.name ?? null;
}

/** A click on "Restart app-02" under an incident: the request, posted in the incident's thread. */
async function requestProposedFix(
  deps: ServerDeps,
  value: ProposedActionValue,
  body: { user: { id: string; name?: string; username?: string }; channel?: { id: string } },
): Promise<string> {
  const requests = deps.requests;
  if (!requests) return 'Requests are not available.';
  const incident = await deps.store.getByKey(value.key);
  if (!incident) return `${value.key} is not an incident I know; nothing was requested.`;
  const parsed = parseCommand(value.command, argsFromButton(value.command, value.target), deps.inventory);
  if (!parsed.ok) return `That fix no longer applies: ${parsed.error}. Nothing was requested.`;
  const channelId = incident.slackChannelId ?? body.channel?.id;
  if (!channelId) return `${value.key} has no Slack message yet; try again in a moment.`;
  const out = await requests.request({ id: body.user.id, name: userName(body) }, parsed.command, {
    channelId,
    threadTs: incident.slackTs,
    incidentId: incident.id,
  });
  return out.text;
}
