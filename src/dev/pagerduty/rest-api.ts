/**
 * The REST API v2 subset, on an Express router: incidents (list, get, update, bulk update, notes,
 * alerts), on-calls, escalation policies, users, services.
 *
 * - Auth: `Authorization: Token token=<key>` (pdjs's default) or `Bearer <token>`; anything else is
 *   401 `{ error: { message: 'Authentication failed', code: 2006 } }`. With no configured tokens, any
 *   well-formed token is accepted.
 * - Rate limit per credential (960/min by default): `ratelimit-limit`, `ratelimit-remaining`,
 *   `ratelimit-reset` on every response, 429 `{ error: { message: 'Rate Limit Exceeded', code: 2020 } }`.
 * - Writes that act as a person (PUT incidents, POST notes) need `From: <user e-mail>`.
 * - Errors in PagerDuty's shape (see errors.ts); unknown paths 404 `{ error: { message: 'Not Found', code: 2100 } }`.
 * - `Accept: application/vnd.pagerduty+json;version=2` is tolerated, not required.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { PagerDutyApiError, pdErrors } from './errors.js';
import { type PageRequest, paginate, parsePageRequest } from './pagination.js';
import type { RateLimiter } from './rate-limit.js';
import {
  onCalls,
  renderAlert,
  renderEscalationPolicy,
  renderIncident,
  renderNote,
  renderOnCall,
  renderService,
  renderUser,
  type Urls,
} from './render.js';
import type { SeedUser } from './seed.js';
import {
  type Actor,
  INCIDENT_STATUSES,
  type Incident,
  type IncidentStatus,
  type PagerDutyStore,
} from './store.js';

export interface RestContext {
  readonly store: PagerDutyStore;
  readonly urls: Urls;
  readonly limiter: RateLimiter;
  /** Accepted tokens; empty accepts any well-formed token. */
  readonly apiTokens: readonly string[];
}

/** `name[]` and `name` values of a query string (PagerDuty's array parameters use the `[]` form). */
export function queryAll(params: URLSearchParams, name: string): string[] {
  return [...params.getAll(`${name}[]`), ...params.getAll(name)]
    .flatMap((v) => v.split(','))
    .filter((v) => v !== '');
}

function queryOf(req: Request): URLSearchParams {
  return new URL(req.originalUrl, 'http://local').searchParams;
}

function credentialOf(req: Request): string | undefined {
  const h = req.get('authorization')?.trim();
  if (h === undefined) return undefined;
  const m = /^Token token=(\S+)$/i.exec(h) ?? /^Bearer (\S+)$/i.exec(h);
  return m?.[1];
}

function sendError(res: Response, err: PagerDutyApiError): void {
  res.status(err.httpStatus).json(err.toBody());
}

function pageOrThrow(params: URLSearchParams): PageRequest {
  const p = parsePageRequest(params);
  if (!p.ok) throw pdErrors.invalidInput(p.error);
  return p.page;
}

function listBody<T>(key: string, all: readonly T[], params: URLSearchParams, render: (t: T) => unknown) {
  const page = paginate(all, pageOrThrow(params));
  return {
    [key]: page.items.map(render),
    limit: page.limit,
    offset: page.offset,
    more: page.more,
    total: page.total,
  };
}

const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;

/** The user named by the `From` header, or PagerDuty's error for a missing, malformed or unknown address. */
export function requireFrom(store: PagerDutyStore, from: string | undefined): SeedUser {
  if (from === undefined) throw pdErrors.missingFrom();
  const email = from.trim();
  if (!EMAIL.test(email)) throw pdErrors.malformedFrom();
  const user = store.userByEmail(email);
  if (user === undefined) throw pdErrors.requesterNotFound();
  return user;
}

function parseJsonBody(req: Request): unknown {
  const text = typeof req.body === 'string' ? req.body : '';
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw pdErrors.invalidInput('The request body is not valid JSON');
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Applies one `incident` update object (PUT /incidents/{id} or one element of PUT /incidents). */
export function applyIncidentUpdate(
  store: PagerDutyStore,
  id: string,
  body: unknown,
  actor: Actor,
): Incident {
  if (store.incident(id) === undefined) throw pdErrors.notFound();
  if (!isRecord(body)) throw pdErrors.invalidInput('incident must be an object');
  if (body.type !== undefined && body.type !== 'incident' && body.type !== 'incident_reference') {
    throw pdErrors.invalidInput('type must be incident or incident_reference');
  }
  let status: IncidentStatus | undefined;
  if (body.status !== undefined) {
    if (body.status !== 'acknowledged' && body.status !== 'resolved') throw pdErrors.invalidStatus();
    status = body.status;
  }
  let level: number | undefined;
  if (body.escalation_level !== undefined) {
    if (typeof body.escalation_level !== 'number' || !Number.isInteger(body.escalation_level)) {
      throw pdErrors.invalidInput('escalation_level must be an integer');
    }
    level = body.escalation_level;
  }
  let assignees: string[] | undefined;
  if (body.assignments !== undefined) {
    if (!Array.isArray(body.assignments)) throw pdErrors.invalidInput('assignments must be an array');
    assignees = body.assignments.map((a: unknown) => {
      const assignee = isRecord(a) ? a.assignee : undefined;
      if (!isRecord(assignee) || typeof assignee.id !== 'string') {
        throw pdErrors.invalidInput('each assignment needs assignee.id');
      }
      return assignee.id;
    });
  }
  let incident = store.incident(id) as Incident;
  if (level !== undefined) incident = store.escalate(id, level, actor);
  if (assignees !== undefined) incident = store.reassign(id, assignees, actor);
  if (status === 'acknowledged') incident = store.acknowledge(id, actor);
  if (status === 'resolved') incident = store.resolve(id, actor);
  return incident;
}

function filterIncidents(store: PagerDutyStore, params: URLSearchParams): Incident[] {
  const statuses = queryAll(params, 'statuses');
  if (statuses.some((s) => !(INCIDENT_STATUSES as readonly string[]).includes(s))) {
    throw pdErrors.invalidInput('Status must be a list of triggered, acknowledged, or resolved.');
  }
  const serviceIds = queryAll(params, 'service_ids');
  const userIds = queryAll(params, 'user_ids');
  const urgencies = queryAll(params, 'urgencies');
  const incidentKey = params.get('incident_key');
  const since = params.get('since');
  const until = params.get('until');
  const sinceMs = since === null ? undefined : Date.parse(since);
  const untilMs = until === null ? undefined : Date.parse(until);
  if (Number.isNaN(sinceMs) || Number.isNaN(untilMs)) {
    throw new PagerDutyApiError(400, 2004, "Invalid time values in 'since' and/or 'until' parameters");
  }
  let list = store
    .allIncidents()
    .filter(
      (i) =>
        (statuses.length === 0 || statuses.includes(i.status)) &&
        (serviceIds.length === 0 || serviceIds.includes(i.serviceId)) &&
        (userIds.length === 0 || i.assignments.some((a) => userIds.includes(a.userId))) &&
        (urgencies.length === 0 || urgencies.includes(i.urgency)) &&
        (incidentKey === null || i.incidentKey === incidentKey) &&
        (sinceMs === undefined || i.createdAt >= sinceMs) &&
        (untilMs === undefined || i.createdAt < untilMs),
    );
  const sortBy = params.get('sort_by') ?? queryAll(params, 'sort_by')[0];
  if (sortBy !== undefined && sortBy !== null) {
    const [field, dir] = sortBy.split(':');
    if (
      field !== 'created_at' &&
      field !== 'incident_number' &&
      field !== 'resolved_at' &&
      field !== 'urgency'
    ) {
      throw pdErrors.invalidInput('sort_by must be one of incident_number, created_at, resolved_at, urgency');
    }
    if (dir === 'desc') list = list.reverse();
  }
  return list;
}

/** Builds the REST router. Mount it after the Events API and inspection routes. */
export function createRestRouter(ctx: RestContext): Router {
  const { store, urls } = ctx;
  const router = express.Router();
  router.use(express.text({ type: () => true, limit: '1mb' }));

  // Rate limit first (keyed by the credential presented), so every REST response carries the headers.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const credential = credentialOf(req);
    const decision = ctx.limiter.take(
      credential === undefined ? `anonymous:${req.ip}` : `token:${credential}`,
    );
    res.set({
      'ratelimit-limit': String(decision.limit),
      'ratelimit-remaining': String(decision.remaining),
      'ratelimit-reset': String(decision.resetSeconds),
    });
    if (!decision.allowed) {
      sendError(res, pdErrors.rateLimited());
      return;
    }
    const ok = credential !== undefined && (ctx.apiTokens.length === 0 || ctx.apiTokens.includes(credential));
    if (!ok) {
      sendError(res, pdErrors.authenticationFailed());
      return;
    }
    next();
  });

  router.get('/incidents', (req, res) => {
    const params = queryOf(req);
    res.json(
      listBody('incidents', filterIncidents(store, params), params, (i) => renderIncident(urls, store, i)),
    );
  });

  router.put('/incidents', (req, res) => {
    const from = requireFrom(store, req.get('from'));
    const body = parseJsonBody(req);
    const items = isRecord(body) ? body.incidents : undefined;
    if (!Array.isArray(items)) throw pdErrors.invalidInput('incidents must be an array');
    const actor: Actor = { kind: 'user', userId: from.id, via: 'api' };
    const updated = items.map((item: unknown) => {
      const id = isRecord(item) && typeof item.id === 'string' ? item.id : undefined;
      if (id === undefined) throw pdErrors.invalidInput('each incident needs an id');
      return applyIncidentUpdate(store, id, item, actor);
    });
    res.json({ incidents: updated.map((i) => renderIncident(urls, store, i)) });
  });

  router.get('/incidents/:id', (req, res) => {
    const incident = store.incident(req.params.id);
    if (incident === undefined) throw pdErrors.notFound();
    res.json({ incident: renderIncident(urls, store, incident) });
  });

  router.put('/incidents/:id', (req, res) => {
    if (store.incident(req.params.id) === undefined) throw pdErrors.notFound();
    const from = requireFrom(store, req.get('from'));
    const body = parseJsonBody(req);
    const incident = applyIncidentUpdate(store, req.params.id, isRecord(body) ? body.incident : undefined, {
      kind: 'user',
      userId: from.id,
      via: 'api',
    });
    res.json({ incident: renderIncident(urls, store, incident) });
  });

  router.get('/incidents/:id/notes', (req, res) => {
    const incident = store.incident(req.params.id);
    if (incident === undefined) throw pdErrors.notFound();
    res.json({ notes: incident.notes.map((n) => renderNote(urls, store, n)) });
  });

  router.post('/incidents/:id/notes', (req, res) => {
    if (store.incident(req.params.id) === undefined) throw pdErrors.notFound();
    const from = requireFrom(store, req.get('from'));
    const body = parseJsonBody(req);
    const note = isRecord(body) ? body.note : undefined;
    const content = isRecord(note) ? note.content : undefined;
    if (typeof content !== 'string') throw pdErrors.invalidInput('Note content must be a string');
    const created = store.addNote(req.params.id, from.id, content, 'api');
    res.status(201).json({ note: renderNote(urls, store, created) });
  });

  router.get('/incidents/:id/alerts', (req, res) => {
    const incident = store.incident(req.params.id);
    if (incident === undefined) throw pdErrors.notFound();
    const params = queryOf(req);
    res.json(listBody('alerts', incident.alerts, params, (a) => renderAlert(urls, store, incident, a)));
  });

  router.get('/oncalls', (req, res) => {
    const params = queryAll.bind(null, queryOf(req));
    const policyIds = params('escalation_policy_ids');
    const userIds = params('user_ids');
    const includeUsers = params('include').includes('users');
    const entries = onCalls(store).filter(
      (e) =>
        (policyIds.length === 0 || policyIds.includes(e.policy.id)) &&
        (userIds.length === 0 || userIds.includes(e.user.id)),
    );
    res.json(listBody('oncalls', entries, queryOf(req), (e) => renderOnCall(urls, store, e, includeUsers)));
  });

  router.get('/escalation_policies', (req, res) => {
    const params = queryOf(req);
    const q = params.get('query')?.toLowerCase();
    const userIds = queryAll(params, 'user_ids');
    const list = store
      .escalationPolicies()
      .filter(
        (p) =>
          (q === undefined || p.name.toLowerCase().includes(q)) &&
          (userIds.length === 0 || p.rules.some((r) => r.userIds.some((u) => userIds.includes(u)))),
      );
    res.json(listBody('escalation_policies', list, params, (p) => renderEscalationPolicy(urls, store, p)));
  });

  router.get('/escalation_policies/:id', (req, res) => {
    const policy = store.escalationPolicy(req.params.id);
    if (policy === undefined) throw pdErrors.notFound();
    res.json({ escalation_policy: renderEscalationPolicy(urls, store, policy) });
  });

  router.get('/users', (req, res) => {
    const params = queryOf(req);
    const q = params.get('query')?.toLowerCase();
    const list = store
      .users()
      .filter(
        (u) => q === undefined || u.name.toLowerCase().includes(q) || u.email.toLowerCase().includes(q),
      );
    res.json(listBody('users', list, params, (u) => renderUser(urls, store, u)));
  });

  router.get('/users/:id', (req, res) => {
    const user = store.user(req.params.id);
    if (user === undefined) throw pdErrors.notFound();
    res.json({ user: renderUser(urls, store, user) });
  });

  router.get('/services', (req, res) => {
    const params = queryOf(req);
    const q = params.get('query')?.toLowerCase();
    const list = store.services().filter((s) => q === undefined || s.name.toLowerCase().includes(q));
    res.json(listBody('services', list, params, (s) => renderService(urls, store, s)));
  });

  router.get('/services/:id', (req, res) => {
    const service = store.service(req.params.id);
    if (service === undefined) throw pdErrors.notFound();
    res.json({ service: renderService(urls, store, service) });
  });

  router.use((_req: Request, res: Response) => {
    sendError(res, pdErrors.notFound());
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof PagerDutyApiError) {
      sendError(res, err);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (status === 413) {
      sendError(res, new PagerDutyApiError(413, 2001, 'Invalid Input Provided', ['Request body too large']));
      return;
    }
    next(err);
  });

  return router;
}
