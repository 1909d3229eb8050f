/**
 * The Alertmanager webhook payload (version "4"), validated at the edge. Unknown fields are
 * accepted: newer Alertmanagers add fields (e.g. `notification_reason`) and rejecting them would
 * make Alertmanager drop the notification (it does not retry 4xx).
 */
import { z } from 'zod';

const labelSet = z.record(z.string(), z.string());

/** Alertmanager's zero time: `endsAt` of an alert that is still firing. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

const timestamp = z
  .string()
  .refine((s) => s === ZERO_TIME || !Number.isNaN(Date.parse(s)), 'must be an RFC 3339 time');

export const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet.refine(
    (l) => typeof l.alertname === 'string' && l.alertname.length > 0,
    'needs an alertname label',
  ),
  annotations: labelSet.default({}),
  startsAt: timestamp,
  endsAt: timestamp.default(ZERO_TIME),
  generatorURL: z.string().default(''),
  fingerprint: z.string().min(1).max(64),
});

export const webhookSchema = z.looseObject({
  version: z.literal('4'),
  groupKey: z.string().min(1).max(4096),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelSet.default({}),
  commonLabels: labelSet.default({}),
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(alertSchema).min(1).max(10_000),
});

export type AlertmanagerAlert = z.infer<typeof alertSchema>;
export type AlertmanagerWebhook = z.infer<typeof webhookSchema>;

/** A short, safe reason for a 400: the first few problems, with their paths, no values. */
export function describeWebhookProblems(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}
