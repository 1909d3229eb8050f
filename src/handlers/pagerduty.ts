/**
 * POST /webhooks/pagerduty (webhooks v3). Verify the signature (401 otherwise), de-duplicate on
 * X-Webhook-Id, apply the event to the incident, answer 2xx fast. PagerDuty drops 4xx and disables
 * a subscription after 3 consecutive drops, so a transient fault on our side is always a 5xx.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { enqueueIncidentSync, type Queues } from '../jobs/queues.js';
import type { Logger } from '../observability/logger.js';
import { webhooksTotal } from '../observability/metrics.js';
import type { IncidentStore } from '../store/incidents.js';
import { verifyPagerDutySignature } from './pagerduty-signature.js';

const reference = z.looseObject({
  id: z.string().optional(),
  summary: z.string().optional(),
  type: z.string().optional(),
});

export const pagerDutyWebhookSchema = z.looseObject({
  event: z.looseObject({
    id: z.string().min(1),
    event_type: z.string().min(1),
    resource_type: z.string(),
    occurred_at: z.string(),
    agent: reference.nullable().optional(),
    data: z.looseObject({
      id: z.string().min(1),
      type: z.string().optional(),
      html_url: z.string().optional(),
      incident_key: z.string().nullable().optional(),
      status: z.string().optional(),
      title: z.string().optional(),
      incident: reference.optional(),
      content: z.string().optional(),
      assignees: z.array(reference).optional(),
      escalation_policy: reference.optional(),
    }),
  }),
});

export interface PagerDutyHandlerDeps {
  secrets: readonly string[];
  store: IncidentStore;
  queues: Queues;
  log: Logger;
}

export function pagerdutyHandler(deps: PagerDutyHandlerDeps) {
  return async (req: Request, res: Response): Promise<void> => {
    const log = deps.log.child({ route: 'pagerduty' });
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signature = req.headers['x-pagerduty-signature'];
    if (
      !verifyPagerDutySignature(raw, Array.isArray(signature) ? signature.join(',') : signature, deps.secrets)
    ) {
      log.warn('pagerduty webhook with a bad or missing signature');
      webhooksTotal.inc({ source: 'pagerduty', outcome: 'unauthorized' });
      res.status(401).json({ error: 'invalid_signature' });
      return;
    }
    let parsed: z.infer<typeof pagerDutyWebhookSchema>;
    try {
      parsed = pagerDutyWebhookSchema.parse(JSON.parse(raw.toString('utf8')));
    } catch {
      // Signed by PagerDuty but not something we understand: accept and log, so the subscription
      // is never disabled for an event type we do not handle.
      log.warn('pagerduty webhook we cannot read; acknowledged and ignored');
      res.status(202).json({ status: 'ignored' });
      return;
    }
    const { event } = parsed;
    const webhookId = String(req.headers['x-webhook-id'] ?? event.id);
    try {
      const isIncident = event.resource_type === 'incident';
      const pdIncidentId = isIncident ? event.data.id : (event.data.incident?.id ?? null);
      const fresh = await deps.store.recordPagerDutyWebhook(
        webhookId,
        event.id,
        event.event_type,
        pdIncidentId,
      );
      if (!fresh) {
        webhooksTotal.inc({ source: 'pagerduty', outcome: 'duplicate' });
        res.status(200).json({ status: 'duplicate' });
        return;
      }
      const row =
        (pdIncidentId ? await deps.store.getByPagerDutyId(pdIncidentId) : undefined) ??
        (event.data.incident_key ? await deps.store.getByKey(event.data.incident_key) : undefined);
      if (!row) {
        res.status(202).json({ status: 'unknown_incident' });
        return;
      }
      if (pdIncidentId && row.pdIncidentId !== pdIncidentId) {
        await deps.store.setPagerDuty(row.id, {
          dedupKey: row.pdDedupKey ?? row.key,
          status: row.pdStatus ?? 'triggered',
          incidentId: pdIncidentId,
          htmlUrl: event.data.html_url ?? null,
        });
      }
      const who = event.agent?.summary ?? 'PagerDuty';
      switch (event.event_type) {
        case 'incident.acknowledged':
          await deps.store.acknowledge(row.id, who, 'pagerduty');
          break;
        case 'incident.resolved':
          // Resolved by our own Events API resolve (agent is the service): nothing new to tell.
          if (event.agent?.type === 'service_reference') break;
          await deps.store.addEvent(row.id, { kind: 'resolved_in_pagerduty', by: who }, who);
          break;
        case 'incident.reassigned':
          await deps.store.addEvent(
            row.id,
            {
              kind: 'reassigned',
              by: who,
              detail: (event.data.assignees ?? []).map((a) => a.summary).join(', '),
            },
            who,
          );
          break;
        case 'incident.escalated':
          await deps.store.addEvent(
            row.id,
            { kind: 'escalated', by: who, detail: event.data.escalation_policy?.summary ?? 'next level' },
            who,
          );
          break;
        case 'incident.annotated':
          await deps.store.addEvent(
            row.id,
            { kind: 'annotated', by: who, detail: event.data.content ?? '' },
            who,
          );
          break;
        default:
          // incident.triggered etc.: the link to the PagerDuty incident is what we needed.
          break;
      }
      await enqueueIncidentSync(deps.queues, row.id, row.severity);
      webhooksTotal.inc({ source: 'pagerduty', outcome: 'stored' });
      res.status(200).json({ status: 'applied' });
    } catch (err) {
      log.error({ err, webhookId }, 'could not apply a pagerduty webhook');
      await deps.store.forgetPagerDutyWebhook(webhookId).catch(() => undefined);
      webhooksTotal.inc({ source: 'pagerduty', outcome: 'unavailable' });
      res.status(503).json({ error: 'unavailable' });
    }
  };
}
