/**
 * Webhook delivery rules (webhooks/02-Behavior.md) with an injected fetch (no network): retry on
 * 5xx/429/timeouts with the same X-Webhook-Id, drop on other 4xx, per-incident ordering while a
 * webhook is retried, and 3 consecutive drops disabling the subscription.
 */
import { describe, expect, it } from 'vitest';
import { verifyPagerDutySignature } from '../../src/dev/pagerduty/signature.js';
import { WebhookDispatcher } from '../../src/dev/pagerduty/webhooks.js';

interface Seen {
  readonly incident: string;
  readonly webhookId: string;
  readonly headers: Headers;
  readonly body: string;
}

/** A fetch that answers from a script per incident (the last status repeats). */
function scriptedFetch(script: Record<string, number[]>, seen: Seen[]): typeof fetch {
  const counters = new Map<string, number>();
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    const body = String(init?.body);
    const incident = (JSON.parse(body) as { incident: string }).incident;
    const headers = new Headers(init?.headers);
    seen.push({ incident, webhookId: headers.get('x-webhook-id') ?? '', headers, body });
    const n = counters.get(incident) ?? 0;
    counters.set(incident, n + 1);
    const statuses = script[incident] ?? [200];
    const status = statuses[Math.min(n, statuses.length - 1)] ?? 200;
    return new Response(status === 204 ? null : 'ok', { status });
  }) as typeof fetch;
}

function dispatcher(
  fetchImpl: typeof fetch,
  extra: Partial<ConstructorParameters<typeof WebhookDispatcher>[0]> = {},
) {
  return new WebhookDispatcher({
    subscription: { id: 'PSUB', url: 'http://receiver.test/hook', secrets: ['s1', 's2'] },
    retryBaseDelayMs: 1,
    maxAttempts: 4,
    fetch: fetchImpl,
    ...extra,
  });
}

const send = (d: WebhookDispatcher, incident: string, n: number) =>
  d.enqueue({
    incidentId: incident,
    eventType: 'incident.triggered',
    eventId: `evt-${incident}-${n}`,
    webhookId: `wh-${incident}-${n}`,
    body: JSON.stringify({ incident, n }),
  });

describe('WebhookDispatcher', () => {
  it('sends PagerDuty’s headers, signed with every secret', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({}, seen));
    send(d, 'A', 1);
    await d.whenIdle();
    const h = seen[0]?.headers;
    expect(h?.get('content-type')).toBe('application/json');
    expect(h?.get('user-agent')).toBe('PagerDuty-Webhook/V3.0');
    expect(h?.get('x-webhook-subscription')).toBe('PSUB');
    expect(h?.get('x-pagerduty-signature')?.split(',')).toHaveLength(2);
    expect(verifyPagerDutySignature(seen[0]?.body ?? '', h?.get('x-pagerduty-signature') ?? '', ['s2'])).toBe(
      true,
    );
    expect(d.webhooks()[0]?.state).toBe('delivered');
  });

  it('retries 5xx and 429 with the same X-Webhook-Id, then delivers', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({ A: [500, 429, 200] }, seen));
    send(d, 'A', 1);
    await d.whenIdle();
    expect(seen.map((s) => s.webhookId)).toEqual(['wh-A-1', 'wh-A-1', 'wh-A-1']);
    expect(d.attempts().map((a) => [a.attempt, a.status, a.outcome])).toEqual([
      [1, 500, 'retry'],
      [2, 429, 'retry'],
      [3, 200, 'delivered'],
    ]);
    expect(d.status()).toMatchObject({ enabled: true, consecutive_drops: 0 });
  });

  it('keeps order per incident while retrying, without holding up other incidents', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({ A: [503, 503, 200] }, seen));
    send(d, 'A', 1);
    send(d, 'A', 2);
    send(d, 'B', 1);
    await d.whenIdle();
    const forA = seen.filter((s) => s.incident === 'A').map((s) => s.webhookId);
    expect(forA).toEqual(['wh-A-1', 'wh-A-1', 'wh-A-1', 'wh-A-2']);
    // B went out while A was still being retried.
    expect(seen.findIndex((s) => s.incident === 'B')).toBeLessThan(seen.length - 1);
  });

  it('drops other 4xx without retrying and disables the subscription after 3 consecutive drops', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({ A: [400], B: [404], C: [410] }, seen));
    send(d, 'A', 1);
    await d.whenIdle();
    send(d, 'B', 1);
    await d.whenIdle();
    expect(d.status()).toMatchObject({ enabled: true, consecutive_drops: 2 });
    send(d, 'C', 1);
    await d.whenIdle();
    expect(seen).toHaveLength(3);
    expect(d.attempts().map((a) => a.outcome)).toEqual(['dropped', 'dropped', 'dropped']);
    expect(d.status()).toMatchObject({ enabled: false, consecutive_drops: 3 });
    expect(d.status().disabled_until).not.toBeNull();

    const skipped = send(d, 'D', 1);
    expect(skipped.state).toBe('not_sent_disabled');
    await d.whenIdle();
    expect(seen).toHaveLength(3);

    d.enable();
    send(d, 'D', 2);
    await d.whenIdle();
    expect(seen).toHaveLength(4);
    expect(d.status()).toMatchObject({ enabled: true, consecutive_drops: 0 });
  });

  it('counts a webhook that exhausts its attempts as a drop; a success resets the count', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({ A: [500], B: [200] }, seen), { maxAttempts: 2 });
    send(d, 'A', 1);
    await d.whenIdle();
    expect(d.webhooks()[0]?.state).toBe('failed');
    expect(d.status().consecutive_drops).toBe(1);
    send(d, 'B', 1);
    await d.whenIdle();
    expect(d.status().consecutive_drops).toBe(0);
  });

  it('retries a timeout and a refused connection', async () => {
    let calls = 0;
    const slowThenOk = (async (_u: string | URL | Request, init?: RequestInit) => {
      calls += 1;
      if (calls === 1) {
        await new Promise((_, reject) =>
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }),
        );
      }
      if (calls === 2) throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
      return new Response('ok', { status: 200 });
    }) as typeof fetch;
    const d = dispatcher(slowThenOk, { timeoutMs: 50 });
    send(d, 'A', 1);
    await d.whenIdle();
    expect(d.attempts().map((a) => [a.status, a.outcome])).toEqual([
      [null, 'retry'],
      [null, 'retry'],
      [200, 'delivered'],
    ]);
    expect(d.attempts()[0]?.error).toBe('no 2xx within 50 ms');
    expect(d.attempts()[1]?.error).toContain('ECONNREFUSED');
  });

  it('reset cancels pending retries', async () => {
    const seen: Seen[] = [];
    const d = dispatcher(scriptedFetch({ A: [500] }, seen), { retryBaseDelayMs: 60_000 });
    send(d, 'A', 1);
    await new Promise((r) => setTimeout(r, 20));
    d.reset();
    await d.whenIdle();
    expect(seen).toHaveLength(1);
    expect(d.webhooks()).toEqual([]);
    await d.close();
  });
});
