/**
 * GET /health/detailed and GET /metrics: what an operator (or Prometheus) needs to know about the
 * bot itself — its database, its Redis and queues, and whether the alerting pipeline is alive
 * (the last Watchdog heartbeat). Behind the ops bearer token.
 */
import { performance } from 'node:perf_hooks';
import type { Request, Response } from 'express';
import { Gauge } from 'prom-client';
import { bearerMatches } from '../handlers/alertmanager.js';
import { QUEUE_NAMES, type Queues } from '../jobs/queues.js';
import { DutyStore } from '../store/duties.js';
import type { IncidentStore } from '../store/incidents.js';
import { registry } from './metrics.js';

export interface HealthDeps {
  token: string | undefined;
  store: IncidentStore;
  queues: Queues;
  heartbeatAlert: string;
  /** A heartbeat older than this means alerting is broken. */
  heartbeatMaxAgeMs: number;
}

async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ok: boolean; latencyMs: number; error?: string; value?: T }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ok: true, latencyMs: Math.round(performance.now() - t0), value };
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - t0), error: (err as Error).message };
  }
}

export async function detailedHealth(deps: HealthDeps) {
  const [database, redis, queues, heartbeat, watchdog] = await Promise.all([
    timed(() => deps.store.db.query('SELECT 1')),
    // The queues' own connection: what the webhook needs to enqueue.
    timed(async () => (await deps.queues.slack.getBackend().client).runCommand('ping', [])),
    timed(async () => {
      const entries = await Promise.all(
        (Object.keys(QUEUE_NAMES) as (keyof typeof QUEUE_NAMES)[]).map(async (name) => [
          name,
          await deps.queues[name].getJobCounts('waiting', 'delayed', 'active', 'failed', 'prioritized'),
        ]),
      );
      return Object.fromEntries(entries) as Record<string, Record<string, number>>;
    }),
    timed(() => deps.store.lastHeartbeat(deps.heartbeatAlert)),
    // The dead-man switch's view: an open outage and whether it was paged (src/jobs/watchdog.ts).
    timed(() => new DutyStore(deps.store.db).watchdog(deps.heartbeatAlert)),
  ]);
  const lastSeen = heartbeat.value ?? null;
  const ageMs = lastSeen ? Date.now() - lastSeen.getTime() : null;
  const heartbeatOk = ageMs !== null && ageMs <= deps.heartbeatMaxAgeMs;
  const ok = database.ok && redis.ok && queues.ok;
  return {
    status: ok ? (heartbeatOk ? 'ok' : 'degraded') : 'failing',
    checks: {
      database: {
        ok: database.ok,
        latencyMs: database.latencyMs,
        ...(database.error ? { error: database.error } : {}),
      },
      redis: {
        ok: redis.ok,
        latencyMs: redis.latencyMs,
        ...(redis.error ? { error: redis.error } : {}),
      },
      queues: {
        ok: queues.ok,
        latencyMs: queues.latencyMs,
        counts: queues.value ?? null,
        ...(queues.error ? { error: queues.error } : {}),
      },
      alertingHeartbeat: {
        ok: heartbeatOk,
        alert: deps.heartbeatAlert,
        lastSeen: lastSeen?.toISOString() ?? null,
        ageSeconds: ageMs === null ? null : Math.round(ageMs / 1000),
        deadManSwitch: watchdog.value
          ? {
              status: watchdog.value.status,
              outageSince:
                watchdog.value.status === 'missing'
                  ? (watchdog.value.outageStartedAt?.toISOString() ?? null)
                  : null,
              paged: watchdog.value.status === 'missing' ? watchdog.value.pagedAt !== null : false,
            }
          : null,
      },
    },
  };
}

export function healthRoutes(deps: HealthDeps) {
  const authorized = (req: Request, res: Response): boolean => {
    if (deps.token && bearerMatches(req.headers.authorization, deps.token)) return true;
    res.status(401).json({ error: 'unauthorized' });
    return false;
  };
  const queueDepth = new Gauge({
    name: 'qnwis_chatops_queue_jobs',
    help: 'Jobs in the bot queues by state.',
    labelNames: ['queue', 'state'] as const,
    registers: [],
  });
  const incidents = new Gauge({
    name: 'qnwis_chatops_incidents',
    help: 'Incidents in the bot database by status and severity (open ones, and those resolved in the last 24 h).',
    labelNames: ['status', 'severity'] as const,
    registers: [],
  });
  const heartbeatAge = new Gauge({
    name: 'qnwis_chatops_alerting_heartbeat_age_seconds',
    help: 'Seconds since the last Watchdog heartbeat from Alertmanager (-1: never).',
    registers: [],
  });
  // The latest server's gauges win: a process that builds a second server (a restart in place, a
  // second replica in a test) must not fail on the names the first registered.
  for (const gauge of [queueDepth, incidents, heartbeatAge]) {
    registry.removeSingleMetric((gauge as unknown as { name: string }).name);
    registry.registerMetric(gauge);
  }

  return {
    async detailed(req: Request, res: Response): Promise<void> {
      if (!authorized(req, res)) return;
      const health = await detailedHealth(deps);
      res.status(health.status === 'failing' ? 503 : 200).json(health);
    },
    async metrics(req: Request, res: Response): Promise<void> {
      if (!authorized(req, res)) return;
      const health = await detailedHealth(deps);
      queueDepth.reset();
      for (const [queue, counts] of Object.entries(health.checks.queues.counts ?? {})) {
        for (const [state, n] of Object.entries(counts)) queueDepth.set({ queue, state }, n);
      }
      heartbeatAge.set(health.checks.alertingHeartbeat.ageSeconds ?? -1);
      incidents.reset();
      try {
        const res = await deps.store.db.query(
          `SELECT status, severity, count(*)::int AS n FROM incidents
           WHERE status <> 'resolved' OR resolved_at > now() - interval '1 day' GROUP BY status, severity`,
        );
        for (const r of res.rows) incidents.set({ status: r.status, severity: r.severity }, Number(r.n));
      } catch {
        // The database check above already reports the outage; the scrape still serves the rest.
      }
      res.type(registry.contentType).send(await registry.metrics());
    },
  };
}
