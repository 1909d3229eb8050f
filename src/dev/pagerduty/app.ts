/**
 * The stand-in's HTTP application (served identically over HTTP and HTTPS):
 *
 * - `GET /` — the incident page (page.ts);
 * - `POST /v2/enqueue` — Events API v2 (events-api.ts for validation, the store for semantics);
 * - `POST /v2/change/enqueue` — change events (validated, recorded; they never open incidents);
 * - `/_local/*` — inspection and "phone" actions for tests and the demo (contract below);
 * - everything else — the REST API subset (rest-api.ts).
 *
 * Inspection API (stable; tests rely on it):
 * - `GET /_local/health` → `{ ok, url, https_url, routing_key }` (readiness);
 * - `GET /_local/ca.pem` → the local CA certificate (PEM) when HTTPS is on;
 * - `GET /_local/incidents` → `[incident]`: the REST incident plus `routing_key`,
 *   `escalation_level`, `escalation_levels`, `trigger_count`, `alerts[]`, `notes[]`;
 * - `GET /_local/events` → every Events API request, accepted or not, oldest first;
 * - `GET /_local/change-events` → every change-event request, accepted or not, oldest first;
 * - `GET /_local/webhooks` → `{ subscription, webhooks[], attempts[] }`;
 * - `POST /_local/webhooks/enable`; `PUT /_local/webhooks/subscription` `{ url?, secrets? }`;
 * - `GET /_local/users` → `[{ id, name, email, level, job_title }]`;
 * - `POST /_local/incidents/:id/ack` | `/resolve` `{ user }`, `/escalate` `{ user, level }`,
 *   `/notes` `{ user, content }` — as that user (id or e-mail) from their phone; webhooks follow;
 * - `POST /_local/reset` → back to the seed, queued webhooks cancelled, records and limits cleared.
 */
import { randomUUID } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { type Logger, silentLogger } from '../../observability/logger.js';
import { PagerDutyApiError, pdErrors } from './errors.js';
import {
  CHANGE_EVENT_ACCEPTED,
  invalidEventBody,
  MAX_EVENT_BYTES,
  parseChangeEventBody,
  parseEventBody,
} from './events-api.js';
import { renderPage } from './page.js';
import type { RateLimiter } from './rate-limit.js';
import { renderIncident, renderNote, renderWebhookEvent, type Urls } from './render.js';
import { createRestRouter } from './rest-api.js';
import type { Actor, PagerDutyStore } from './store.js';
import type { WebhookDispatcher } from './webhooks.js';

export interface AppContext {
  readonly store: PagerDutyStore;
  readonly webhooks: WebhookDispatcher;
  readonly urls: Urls;
  readonly restLimiter: RateLimiter;
  readonly eventsLimiter: RateLimiter;
  readonly apiTokens: readonly string[];
  readonly log?: Logger;
  /** For `/_local/health` and `/_local/ca.pem`. */
  readonly info: () => {
    url: string;
    httpsUrl: string | undefined;
    caCertPem: string | undefined;
    routingKey: string;
  };
  /** Resets limiters and anything else outside the store and dispatcher. */
  readonly onReset?: () => void;
}

/** Queues a v3 webhook for every change of the store (call once per store). */
export function wireWebhooks(store: PagerDutyStore, webhooks: WebhookDispatcher, urls: Urls): void {
  store.onChange((change) => {
    const eventId = randomUUID();
    const payload = renderWebhookEvent(urls, store, change, eventId);
    if (payload === undefined) return;
    webhooks.enqueue({
      incidentId: change.incidentId,
      eventType: change.type,
      eventId,
      webhookId: randomUUID(),
      body: JSON.stringify(payload),
    });
  });
}

function localError(res: Response, err: PagerDutyApiError): void {
  res.status(err.httpStatus).json(err.toBody());
}

export function createPagerDutyApp(ctx: AppContext): Express {
  const { store, webhooks, urls } = ctx;
  const log = ctx.log ?? silentLogger;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, _res: Response, next: NextFunction) => {
    log.debug({ method: req.method, path: req.path }, 'request');
    next();
  });

  app.get('/', (_req, res) => {
    res.type('html').send(renderPage());
  });

  // ---- Events API v2 -------------------------------------------------------------------------

  app.post(
    '/v2/enqueue',
    express.text({ type: () => true, limit: MAX_EVENT_BYTES + 64 * 1024 }),
    (req: Request, res: Response) => {
      const text = typeof req.body === 'string' ? req.body : '';
      const validation = parseEventBody(text);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the raw text in the record
      }
      if (!validation.ok) {
        store.recordEvent({ http_status: 400, outcome: 'invalid', errors: validation.errors, body });
        res.status(400).json(invalidEventBody(validation.errors));
        return;
      }
      const event = validation.event;
      const common = {
        routing_key: event.routing_key,
        event_action: event.event_action,
        ...(event.dedup_key === undefined ? {} : { dedup_key: event.dedup_key }),
        body,
      };
      if (store.serviceForRoutingKey(event.routing_key) === undefined) {
        const errors = ['Invalid routing key'];
        store.recordEvent({ ...common, http_status: 400, outcome: 'invalid', errors });
        res.status(400).json(invalidEventBody(errors));
        return;
      }
      const decision = ctx.eventsLimiter.take(event.routing_key);
      if (!decision.allowed) {
        store.recordEvent({ ...common, http_status: 429, outcome: 'rate_limited' });
        // PagerDuty documents only "429 - Request Limit Exceeded" (the event is not ingested); a JSON
        // body keeps clients that always parse JSON (pdjs) working.
        res.status(429).json({ status: 'throttle event', message: 'Request Limit Exceeded', errors: [] });
        return;
      }
      const effect = store.applyEvent(event);
      store.recordEvent({
        ...common,
        dedup_key: effect.dedupKey,
        http_status: 202,
        outcome: 'accepted',
        effect: effect.kind,
        ...(effect.kind === 'dropped' ? { reason: effect.reason } : {}),
        ...('incidentId' in effect && effect.incidentId !== undefined
          ? { incident_id: effect.incidentId }
          : {}),
      });
      res.status(202).json({ status: 'success', message: 'Event processed', dedup_key: effect.dedupKey });
    },
  );

  // Change events share the alert events' rules for routing keys and the per-key rate limit
  // (events-API-v2/05-Rate-Limits.md: the limit is per integration key, whatever the event type).
  app.post(
    '/v2/change/enqueue',
    express.text({ type: () => true, limit: MAX_EVENT_BYTES + 64 * 1024 }),
    (req: Request, res: Response) => {
      const text = typeof req.body === 'string' ? req.body : '';
      const validation = parseChangeEventBody(text);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the raw text in the record
      }
      if (!validation.ok) {
        store.recordChangeEvent({ http_status: 400, outcome: 'invalid', errors: validation.errors, body });
        res.status(400).json(invalidEventBody(validation.errors));
        return;
      }
      const routingKey = validation.event.routing_key;
      const service = store.serviceForRoutingKey(routingKey);
      if (service === undefined) {
        const errors = ['Invalid routing key'];
        store.recordChangeEvent({
          routing_key: routingKey,
          http_status: 400,
          outcome: 'invalid',
          errors,
          body,
        });
        res.status(400).json(invalidEventBody(errors));
        return;
      }
      if (!ctx.eventsLimiter.take(routingKey).allowed) {
        store.recordChangeEvent({ routing_key: routingKey, http_status: 429, outcome: 'rate_limited', body });
        res.status(429).json({ status: 'throttle event', message: 'Request Limit Exceeded', errors: [] });
        return;
      }
      store.recordChangeEvent({
        routing_key: routingKey,
        service_id: service.id,
        http_status: 202,
        outcome: 'accepted',
        body,
      });
      res.status(202).json(CHANGE_EVENT_ACCEPTED);
    },
  );

  // ---- inspection API ------------------------------------------------------------------------

  const local = express.Router();
  local.use(express.json({ limit: '1mb' }));

  local.get('/health', (_req, res) => {
    const i = ctx.info();
    res.json({ ok: true, url: i.url, https_url: i.httpsUrl ?? null, routing_key: i.routingKey });
  });

  local.get('/ca.pem', (_req, res) => {
    const pem = ctx.info().caCertPem;
    if (pem === undefined) {
      res.status(404).json({ error: { message: 'HTTPS is not enabled', code: 2100 } });
      return;
    }
    res.type('application/x-pem-file').send(pem);
  });

  local.get('/incidents', (_req, res) => {
    res.json(
      store.allIncidents().map((i) => ({
        ...renderIncident(urls, store, i),
        routing_key: i.routingKey,
        escalation_level: i.escalationLevel,
        escalation_levels: store.escalationPolicy(i.escalationPolicyId)?.rules.length ?? 0,
        trigger_count: i.alerts.reduce((n, a) => n + a.triggerCount, 0),
        alerts: i.alerts.map((a) => ({
          id: a.id,
          dedup_key: a.dedupKey,
          status: a.status,
          trigger_count: a.triggerCount,
          severity: a.payload.severity,
          source: a.payload.source,
          summary: a.payload.summary,
          custom_details: a.payload.custom_details ?? null,
          links: a.links,
        })),
        notes: i.notes.map((n) => renderNote(urls, store, n)),
      })),
    );
  });

  local.get('/events', (_req, res) => {
    res.json(store.events());
  });

  local.get('/change-events', (_req, res) => {
    res.json(store.changeEvents());
  });

  local.get('/webhooks', (_req, res) => {
    res.json({
      subscription: webhooks.status(),
      webhooks: webhooks.webhooks(),
      attempts: webhooks.attempts(),
    });
  });

  local.post('/webhooks/enable', (_req, res) => {
    webhooks.enable();
    res.json({ subscription: webhooks.status() });
  });

  local.put('/webhooks/subscription', (req, res) => {
    const b = (req.body ?? {}) as { url?: unknown; secrets?: unknown };
    const patch: { url?: string; secrets?: string[] } = {};
    if (typeof b.url === 'string' && URL.canParse(b.url)) patch.url = b.url;
    else if (b.url !== undefined) throw pdErrors.invalidInput('url must be an absolute URL');
    if (
      Array.isArray(b.secrets) &&
      b.secrets.length > 0 &&
      b.secrets.every((s) => typeof s === 'string' && s !== '')
    ) {
      patch.secrets = b.secrets as string[];
    } else if (b.secrets !== undefined)
      throw pdErrors.invalidInput('secrets must be a non-empty list of strings');
    webhooks.updateSubscription(patch);
    res.json({ subscription: webhooks.status() });
  });

  local.get('/users', (_req, res) => {
    res.json(
      store.users().map((u) => {
        const level =
          store
            .escalationPolicies()
            .flatMap((p) => p.rules.map((r, idx) => (r.userIds.includes(u.id) ? idx + 1 : 0)))
            .find((l) => l > 0) ?? null;
        return { id: u.id, name: u.name, email: u.email, level, job_title: u.jobTitle };
      }),
    );
  });

  const phoneActor = (req: Request): Actor => {
    const who = (req.body as { user?: unknown } | undefined)?.user;
    if (typeof who !== 'string' || who.trim() === '')
      throw pdErrors.invalidInput('user (id or e-mail) is required');
    const user = store.findUser(who.trim());
    if (user === undefined) throw pdErrors.requesterNotFound();
    return { kind: 'user', userId: user.id, via: 'phone' };
  };

  local.post('/incidents/:id/ack', (req, res) => {
    if (store.incident(req.params.id) === undefined) throw pdErrors.notFound();
    const incident = store.acknowledge(req.params.id, phoneActor(req));
    res.json({ incident: renderIncident(urls, store, incident) });
  });

  local.post('/incidents/:id/resolve', (req, res) => {
    if (store.incident(req.params.id) === undefined) throw pdErrors.notFound();
    const incident = store.resolve(req.params.id, phoneActor(req));
    res.json({ incident: renderIncident(urls, store, incident) });
  });

  local.post('/incidents/:id/escalate', (req, res) => {
    const current = store.incident(req.params.id);
    if (current === undefined) throw pdErrors.notFound();
    const actor = phoneActor(req);
    const raw = (req.body as { level?: unknown }).level;
    const level = raw === undefined ? current.escalationLevel + 1 : raw;
    if (typeof level !== 'number') throw pdErrors.invalidInput('level must be a number');
    const incident = store.escalate(req.params.id, level, actor);
    res.json({ incident: renderIncident(urls, store, incident) });
  });

  local.post('/incidents/:id/notes', (req, res) => {
    if (store.incident(req.params.id) === undefined) throw pdErrors.notFound();
    const actor = phoneActor(req);
    const content = (req.body as { content?: unknown }).content;
    if (typeof content !== 'string' || actor.kind !== 'user')
      throw pdErrors.invalidInput('content is required');
    const note = store.addNote(req.params.id, actor.userId, content, 'phone');
    res.status(201).json({ note: renderNote(urls, store, note) });
  });

  local.post('/reset', (_req, res) => {
    store.reset();
    webhooks.reset();
    ctx.restLimiter.reset();
    ctx.eventsLimiter.reset();
    ctx.onReset?.();
    res.json({ ok: true });
  });

  local.use((_req: Request, res: Response) => {
    localError(res, pdErrors.notFound());
  });

  local.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof PagerDutyApiError) {
      localError(res, err);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      localError(res, new PagerDutyApiError(status, 2001, 'Invalid Input Provided', [String(err)]));
      return;
    }
    next(err);
  });

  app.use('/_local', local);

  // ---- REST API ------------------------------------------------------------------------------

  app.use(createRestRouter({ store, urls, limiter: ctx.restLimiter, apiTokens: ctx.apiTokens }));

  // Last resort: errors outside the routers (e.g. an oversized event body).
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: unknown }).status;
    const eventPath = req.path === '/v2/enqueue' || req.path === '/v2/change/enqueue';
    if (eventPath && typeof status === 'number' && status < 500) {
      const errors = [
        status === 413 ? 'Event is too large (maximum is 512 KB)' : 'The request body could not be read',
      ];
      if (req.path === '/v2/enqueue')
        store.recordEvent({ http_status: 400, outcome: 'invalid', errors, body: null });
      else store.recordChangeEvent({ http_status: 400, outcome: 'invalid', errors, body: null });
      res.status(400).json(invalidEventBody(errors));
      return;
    }
    log.error({ err }, 'unhandled error in the PagerDuty stand-in');
    res.status(500).json({ error: { message: 'An internal error has occurred.', code: 2000 } });
  });

  return app;
}
