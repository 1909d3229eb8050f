/**
 * Acting in a PagerDuty stand-in (src/dev/pagerduty) as a person would from its app: the REST API
 * as that user (`From` = their e-mail).
 */
import { expect } from 'vitest';

/** Acknowledges PagerDuty incident `id` as `email` (default the lab's on-call engineer). */
export async function acknowledgeInPagerDuty(
  pagerdutyUrl: string,
  id: string,
  email = 'oncall@qnwis.lab',
): Promise<void> {
  const res = await fetch(`${pagerdutyUrl}/incidents/${id}`, {
    method: 'PUT',
    headers: { authorization: 'Token token=test', from: email, 'content-type': 'application/json' },
    body: JSON.stringify({ incident: { type: 'incident_reference', status: 'acknowledged' } }),
  });
  expect(res.status).toBe(200);
}
