/**
 * The bot's one HTTP port: Bolt's ExpressReceiver (`POST /slack/events`) on an express app that
 * also carries the webhooks and health. Transport only: routes verify, parse, hand off.
 */
import type { Server } from 'node:http';
import { App, ExpressReceiver, LogLevel } from '@slack/bolt';
import express, { type NextFunction, type Request, type Response } from 'express';
import { proposedActionReply, proposedActionValue } from './bot/proposed-actions.js';
import { type AlertmanagerHandlerDeps, alertmanagerHandler } from './handlers/alertmanager.js';
import { type PagerDutyHandlerDeps, pagerdutyHandler } from './handlers/pagerduty.js';
import type { Inventory } from './inventory.js';
import { healthRoutes } from './observability/health.js';
import type { Logger } from './observability/logger.js';
import { webhooksTotal } from './observability/metrics.js';
import type { IncidentStore } from './store/incidents.js';

/** Alertmanager bodies above this are refused with 413 (CONTRACTS: 1 MiB). */
export const WEBHOOK_BODY_LIMIT = '1mb';

export interface ServerDeps {
  signingSecret: string;
  slackToken: string;
  slackApiUrl: string;
  alertmanager: Omit<AlertmanagerHandlerDeps, 'log'>;
  pagerduty: Omit<PagerDutyHandlerDeps, 'log'> | null;
  store: IncidentStore;
  log: Logger;
  heartbeatAlert: string;
  /** Bearer token for /health/detailed and /metrics. */
  opsToken: string | undefined;
  inventory: Inventory;
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
    heartbeatMaxAgeMs: 5 * 60_000,
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

  const receiver = new ExpressReceiver({
    signingSecret: deps.signingSecret,
    endpoints: '/slack/events',
    app: web,
    logLevel: LogLevel.WARN,
  });
  const app = new App({
    token: deps.slackToken,
    receiver,
    clientOptions: { slackApiUrl: deps.slackApiUrl, retryConfig: { retries: 1 } },
    // Bolt's auth.test at start-up would make the bot depend on Slack being up to receive alerts.
    tokenVerificationEnabled: false,
  });
  // Link buttons (graph, silence, PagerDuty) open their URL; Slack still sends the click, which
  // must be acknowledged or the user sees an error mark.
  app.action(/^incident\.link\./, async ({ ack }) => {
    await ack();
  });
  // A playbook's proposed fix: say exactly what it would do (nothing runs yet).
  app.action(/^incident\.propose\./, async ({ ack, body, action, respond }) => {
    await ack();
    const raw = action.type === 'button' ? action.value : undefined;
    let value: unknown = null;
    try {
      value = raw ? JSON.parse(raw) : null;
    } catch {
      value = null;
    }
    const parsed = proposedActionValue.safeParse(value);
    if (!parsed.success) {
      await respond({
        response_type: 'ephemeral',
        replace_original: false,
        text: 'That button is not one I made.',
      });
      return;
    }
    await respond({
      response_type: 'ephemeral',
      replace_original: false,
      text: proposedActionReply(parsed.data, body.user.id, deps.inventory),
    });
  });
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
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const server = web.listen(port, host, () => resolve(server));
        server.once('error', reject);
      });
    },
  };
}

function asyncRoute(fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch(next);
  };
}
