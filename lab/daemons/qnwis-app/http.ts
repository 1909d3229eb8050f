/**
 * The app's HTTP surface, shaped like the FastAPI service the runbook talks to:
 *
 *   GET  /health              no auth; 200 {"status":"healthy",host,version,maintenance}
 *   GET  /health/detailed     admin; real Postgres SELECT 1 and Redis PING; 200 healthy / 503 degraded
 *   GET  /metrics             Prometheus text (no auth, so the lab's Prometheus scrapes it plainly)
 *   GET  /admin/maintenance   admin; the fleet state read from Redis
 *   POST /admin/maintenance   admin; {"enabled":true,"message":"..."} | {"enabled":false}
 *   POST /api/v1/query        any bearer; {"question":"..."} → one query through the real path
 *   GET|POST|DELETE /lab/faults  admin; the lab's fault knobs (not part of the real service)
 *
 * Errors are FastAPI-style JSON `{"detail": ...}`. Bodies are parsed as JSON whatever the
 * Content-Type, because the runbook's `curl -d '{...}'` sends form-urlencoded.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { type ZodError, z } from 'zod';
import { kv, type LogFiles } from './logs.js';
import type { MaintenanceStore } from './maintenance.js';
import type { AppMetrics, ErrorReason } from './metrics.js';
import { type Catalog, describeError, type Faults, FaultsPatchSchema, type QueryEngine } from './workload.js';

export interface HttpDeps {
  host: string;
  version: string;
  adminToken: string;
  logs: LogFiles;
  metrics: AppMetrics;
  pool: Pool;
  redis: Redis;
  maintenance: MaintenanceStore;
  catalog: Catalog;
  engine: QueryEngine;
  faults: Faults;
}

const MaintenanceBodySchema = z.object({
  enabled: z.boolean(),
  message: z.string().trim().min(1).max(500).optional(),
});

const QueryBodySchema = z.object({
  question: z.string().trim().min(1).max(2000),
  user_id: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/)
    .optional(),
});

const DEFAULT_MAINTENANCE_MESSAGE = 'Service under maintenance';
const DEPENDENCY_CHECK_TIMEOUT_MS = 2000;
const MAX_BODY_BYTES = 64 * 1024;

/** HTTP status of a failed query: dependency trouble is 5xx the load balancer can tell apart. */
const STATUS_BY_REASON: Record<ErrorReason, number> = {
  db_pool_exhausted: 503,
  redis_timeout: 503,
  upstream_api: 502,
  internal: 500,
  db_unavailable: 503,
  statement_timeout: 504,
  db_error: 500,
  redis_unavailable: 503,
};

class HttpError extends Error {
  readonly status: number;
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(detail);
    this.name = 'HttpError';
    this.status = status;
    this.detail = detail;
  }
}

export function createHttpServer(deps: HttpDeps): Server {
  const startedAt = Date.now();
  const adminDigest = sha256(deps.adminToken);

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  /** 401 unless the request carries the admin token; failed attempts go to audit.log. */
  const requireAdmin = (req: IncomingMessage, path: string): void => {
    const token = bearerToken(req);
    if (token !== null && timingSafeEqual(sha256(token), adminDigest)) return;
    authFailed(req, path, token === null ? 'missing_token' : 'invalid_token');
  };

  /** The query API accepts any bearer token (the lab has no user directory). */
  const requireBearer = (req: IncomingMessage, path: string): void => {
    if (bearerToken(req) === null) authFailed(req, path, 'missing_token');
  };

  const authFailed = (req: IncomingMessage, path: string, reason: string): never => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    deps.logs.audit(
      'auth',
      `authentication failed user_id=unknown reason=${reason} path=${path} remote_addr=${remote}`,
      { user_id: 'unknown', reason, path, remote_addr: remote },
      'WARNING',
    );
    throw new HttpError(
      401,
      reason === 'missing_token' ? 'Not authenticated' : 'Invalid authentication credentials',
    );
  };

  const health = (res: ServerResponse) =>
    send(res, 200, {
      status: 'healthy',
      host: deps.host,
      version: deps.version,
      maintenance: deps.maintenance.current.enabled,
    });

  const healthDetailed = async (res: ServerResponse) => {
    const [database, redis] = await Promise.all([
      check(() => deps.pool.query('SELECT 1')),
      check(() => deps.redis.ping()),
    ]);
    const healthy = database.status === 'ok' && redis.status === 'ok';
    send(res, healthy ? 200 : 503, {
      status: healthy ? 'healthy' : 'degraded',
      host: deps.host,
      version: deps.version,
      pid: process.pid,
      uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
      maintenance: deps.maintenance.current.enabled,
      checks: { database, redis },
      db_pool: {
        total: deps.pool.totalCount,
        idle: deps.pool.idleCount,
        waiting: deps.pool.waitingCount,
      },
    });
  };

  const metrics = async (res: ServerResponse) => {
    const text = await deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
    res.end(text);
  };

  const getMaintenance = async (res: ServerResponse) => {
    try {
      const state = await deps.maintenance.refresh();
      send(res, 200, { ...state, host: deps.host });
    } catch (err) {
      throw new HttpError(503, `maintenance state unavailable: ${describeError(err)}`);
    }
  };

  const postMaintenance = async (req: IncomingMessage, res: ServerResponse) => {
    const body = parseBody(MaintenanceBodySchema, await readJson(req));
    const message = body.enabled ? (body.message ?? DEFAULT_MAINTENANCE_MESSAGE) : null;
    let state: Awaited<ReturnType<MaintenanceStore['set']>>;
    try {
      state = await deps.maintenance.set(body.enabled, message);
    } catch (err) {
      throw new HttpError(503, `maintenance state could not be stored: ${describeError(err)}`);
    }
    const remote = req.socket.remoteAddress ?? 'unknown';
    const verb = state.enabled ? 'enabled' : 'disabled';
    const said = state.message === null ? '' : ` message=${kv(state.message)}`;
    deps.logs.audit('maintenance', `maintenance mode ${verb}${said} actor=admin remote_addr=${remote}`, {
      enabled: state.enabled,
      message: state.message,
      actor: 'admin',
      remote_addr: remote,
    });
    deps.logs.app('WARNING', 'qnwis.maintenance', `maintenance mode ${verb}${said}`, {
      maintenance: state.enabled,
    });
    send(res, 200, { ...state, host: deps.host });
  };

  const query = async (req: IncomingMessage, res: ServerResponse) => {
    // Maintenance is checked first, like the real service's middleware: everyone gets the 503.
    const maintenance = deps.maintenance.current;
    if (maintenance.enabled) {
      send(
        res,
        503,
        { detail: maintenance.message ?? DEFAULT_MAINTENANCE_MESSAGE, maintenance: true },
        { 'retry-after': '300' },
      );
      return;
    }
    requireBearer(req, '/api/v1/query');
    const body = parseBody(QueryBodySchema, await readJson(req));
    const entry = deps.catalog.forQuestion(body.question);
    const outcome = await deps.engine.run(entry, body.user_id ?? 'api_client', 'api');
    if (outcome.ok) {
      send(res, 200, {
        query_id: outcome.queryId,
        type: outcome.type,
        cache: outcome.cache,
        rows: outcome.rows,
        duration_ms: outcome.durationMs,
        host: deps.host,
      });
    } else {
      send(res, STATUS_BY_REASON[outcome.reason], {
        detail: outcome.message,
        query_id: outcome.queryId,
        reason: outcome.reason,
      });
    }
  };

  const faults = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST') {
      const patch = parseBody(FaultsPatchSchema, await readJson(req));
      deps.faults.apply(patch);
    } else if (req.method === 'DELETE') {
      deps.faults.reset();
    }
    send(res, 200, deps.faults.snapshot());
  };

  type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  interface Route {
    methods: readonly string[];
    auth: 'none' | 'admin';
    handler: Handler;
  }
  const routes: Record<string, Route> = {
    '/health': { methods: ['GET'], auth: 'none', handler: (_req, res) => health(res) },
    '/health/detailed': { methods: ['GET'], auth: 'admin', handler: (_req, res) => healthDetailed(res) },
    '/metrics': { methods: ['GET'], auth: 'none', handler: (_req, res) => metrics(res) },
    '/admin/maintenance': {
      methods: ['GET', 'POST'],
      auth: 'admin',
      handler: (req, res) => (req.method === 'POST' ? postMaintenance(req, res) : getMaintenance(res)),
    },
    // Auth is checked inside: maintenance answers 503 before it.
    '/api/v1/query': { methods: ['POST'], auth: 'none', handler: query },
    '/lab/faults': { methods: ['GET', 'POST', 'DELETE'], auth: 'admin', handler: faults },
  };

  return createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname.replace(/\/+$/, '') || '/';
    try {
      const route = routes[path];
      if (!route) throw new HttpError(404, 'Not Found');
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      if (!route.methods.includes(method)) {
        res.setHeader('allow', route.methods.join(', '));
        throw new HttpError(405, 'Method Not Allowed');
      }
      if (route.auth === 'admin') requireAdmin(req, path);
      await route.handler(req, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
        send(res, err.status, { detail: err.detail }, headers);
        return;
      }
      deps.logs.error('qnwis.api', `unhandled error path=${path} error=${kv(describeError(err))}`, {
        path,
        error: describeError(err),
      });
      send(res, 500, { detail: 'Internal Server Error' });
    }
  });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1] ?? null;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${describeError(err)}`);
  }
}

function parseBody<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, formatIssues(parsed.error));
  return parsed.data;
}

function formatIssues(error: ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

interface CheckResult {
  status: 'ok' | 'error';
  latency_ms: number;
  error?: string;
}

/** Runs one dependency probe with a hard deadline, so a hung dependency cannot hang /health. */
async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${DEPENDENCY_CHECK_TIMEOUT_MS}ms`)),
      DEPENDENCY_CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([probe(), deadline]);
    return { status: 'ok', latency_ms: elapsed(started) };
  } catch (err) {
    return { status: 'error', latency_ms: elapsed(started), error: describeError(err) };
  } finally {
    clearTimeout(timer);
  }
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
