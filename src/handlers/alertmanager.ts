/**
 * POST /webhooks/alertmanager. Thin transport: authenticate, bound, parse, store, enqueue, answer.
 *
 * Alertmanager retries only on 5xx and drops 4xx (CONTRACTS.md), so: 401/400/413 only for what a
 * retry can never fix; 503 whenever the alerts could not be made durable; 2xx only after they are.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { StoreUnavailableError } from '../errors.js';
import { describeWebhookProblems, webhookSchema } from '../incidents/alertmanager.js';
import { enqueueIncidentSync, enqueuePagerDuty, enqueuePlaybook, type Queues } from '../jobs/queues.js';
import type { Logger } from '../observability/logger.js';
import { webhooksTotal } from '../observability/metrics.js';
import type { IncidentStore, RecordContext } from '../store/incidents.js';

export interface AlertmanagerHandlerDeps {
  token: string;
  store: IncidentStore;
  queues: Queues;
  context: RecordContext;
  log: Logger;
  /** Safety net: page even if Slack is down (the Slack job pages sooner, with a permalink). */
  pagingFallbackMs: number;
  paging: boolean;
  /** Run the alert's playbook when an incident opens. */
  diagnose: boolean;
}

/** Constant time, and no length leak: both sides are hashed to the same size first. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(header ?? ''), digest(`Bearer ${token}`));
}

export function alertmanagerHandler(deps: AlertmanagerHandlerDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const log = deps.log.child({ route: 'alertmanager' });
    if (!bearerMatches(req.headers.authorization, deps.token)) {
      log.warn({ remote: req.socket.remoteAddress }, 'alertmanager webhook with a missing or wrong token');
      webhooksTotal.inc({ source: 'alertmanager', outcome: 'unauthorized' });
      res.status(401).json({ error: 'unauthorized' });
      return;
    }
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      webhooksTotal.inc({ source: 'alertmanager', outcome: 'invalid' });
      res.status(400).json({ error: 'invalid_json', detail: 'the body is not valid JSON' });
      return;
    }
    const parsed = webhookSchema.safeParse(json);
    if (!parsed.success) {
      const detail = describeWebhookProblems(parsed.error);
      log.warn({ detail }, 'alertmanager webhook refused');
      webhooksTotal.inc({ source: 'alertmanager', outcome: 'invalid' });
      res.status(400).json({ error: 'invalid_payload', detail });
      return;
    }
    const payload = parsed.data;
    try {
      const result = await deps.store.recordNotification(payload, deps.context);
      for (const inc of result.incidents) {
        const row = await deps.store.get(inc.id);
        if (!row) continue;
        await enqueueIncidentSync(deps.queues, inc.id, row.severity);
        if (inc.opened && deps.diagnose) await enqueuePlaybook(deps.queues, row);
        if (deps.paging && (row.severity === 'SEV-1' || row.severity === 'SEV-2')) {
          await enqueuePagerDuty(deps.queues, inc.id, row.status === 'resolved' ? 0 : deps.pagingFallbackMs);
        }
      }
      log.info(
        {
          groupKey: payload.groupKey,
          alerts: payload.alerts.length,
          incidents: result.incidents.map((i) => i.id),
          fresh: result.newReceipts,
        },
        'alertmanager notification stored',
      );
      webhooksTotal.inc({ source: 'alertmanager', outcome: result.newReceipts > 0 ? 'stored' : 'duplicate' });
      res
        .status(200)
        .json({ status: 'stored', incidents: result.incidents.length, heartbeat: result.heartbeat });
    } catch (err) {
      // Store or queue down: 503 so Alertmanager retries (it drops 4xx). The store is idempotent,
      // so a retry after a partial failure converges.
      log.error({ err, groupKey: payload.groupKey }, 'could not store an alertmanager notification');
      webhooksTotal.inc({ source: 'alertmanager', outcome: 'unavailable' });
      res.status(503).json({
        error: err instanceof StoreUnavailableError ? 'store_unavailable' : 'unavailable',
        detail: 'retry later',
      });
    }
  };
}
