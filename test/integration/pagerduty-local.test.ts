/**
 * The local PagerDuty stand-in against the REAL @pagerduty/pdjs 2.2.4 client and a real webhook
 * receiver (a plain node:http server), all on 127.0.0.1 with random ports. Needs no lab services.
 *
 * How pdjs reaches the stand-in:
 * - `event()` always builds `https://${server}/v2/enqueue`; pdjs hands every extra option to
 *   cross-fetch → node-fetch 2, which honours `agent`. So `event({ server: 'host:port', agent: new
 *   https.Agent({ ca }), signal, data })` talks to the stand-in's HTTPS listener and trusts only its
 *   local CA. The alternative for a whole process is `NODE_EXTRA_CA_CERTS=<state dir>/ca.pem` (tested
 *   in a child process at the end, with the CLI).
 * - `api({ token, url })` takes the full URL per call; plain HTTP works. `response.resource` is null
 *   for non-pagerduty.com URLs, so read `response.data`.
 * - Always `signal: AbortSignal.timeout(…)` (pdjs's `requestTimeout` aborts nothing), and a small
 *   `retryTimeout` where a 429 is expected (pdjs waits 20 s per retry by default, 3 retries).
 */
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { api, event } from '@pagerduty/pdjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PagerDutyLocal, startPagerDutyLocal } from '../../src/dev/pagerduty/index.js';

type EventParams = Parameters<typeof event>[0];

const TOKEN = 'lab-rest-token-0001';
const SECRET = 'whsec-lab-current';
const ROUTING_KEY = 'qnwislabproductionroutingkey0001';

/**
 * Verifier written in this test straight from PagerDuty's documented algorithm
 * (webhooks/04-Signatures.md), independent of the stand-in's own code: split the header on ",",
 * keep `v1=` entries, HMAC-SHA256 the raw body with the secret, hex, constant-time compare.
 */
function verifyFromDocs(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(rawBody).digest('hex'));
  return header
    .split(',')
    .filter((s) => s.startsWith('v1='))
    .map((s) => Buffer.from(s.slice(3)))
    .some((sig) => sig.length === expected.length && timingSafeEqual(sig, expected));
}

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly body: {
    event: {
      id: string;
      event_type: string;
      resource_type: string;
      occurred_at: string;
      agent: { id: string; type: string; summary: string } | null;
      client: { name: string } | null;
      data: Record<string, unknown> & { id: string; status?: string };
    };
  };
}

class Receiver {
  readonly received: Received[] = [];
  /** Status to answer for the n-th request (0-based). */
  respond: (n: number) => number = () => 202;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const n = this.received.length;
      this.received.push({ headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) });
      res.writeHead(this.respond(n), { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/pagerduty`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function local<T = unknown>(pd: PagerDutyLocal, method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(`${pd.url}${p}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  return (await res.json()) as T;
}

let tlsDir: string;
let receiver: Receiver;
let pd: PagerDutyLocal;
let agent: https.Agent;

function sendEvent(data: Record<string, unknown>, extra: Partial<EventParams> = {}) {
  const params = {
    server: pd.eventsServer,
    agent,
    signal: AbortSignal.timeout(5_000),
    data,
    ...extra,
  } as EventParams;
  return event(params);
}

function rest(url: string, opts: { method?: string; from?: string; data?: object; token?: string } = {}) {
  return api({
    token: opts.token ?? TOKEN,
    url: `${pd.url}${url}`,
    method: opts.method ?? 'GET',
    ...(opts.from === undefined ? {} : { headers: { From: opts.from } }),
    ...(opts.data === undefined ? {} : { data: opts.data }),
    signal: AbortSignal.timeout(5_000),
    retryTimeout: 10,
  });
}

const triggerData = (dedup: string, summary = `ServiceDown on ${dedup}`) => ({
  routing_key: ROUTING_KEY,
  event_action: 'trigger',
  dedup_key: dedup,
  payload: {
    summary,
    source: 'app-01.qnwis.lab',
    severity: 'critical',
    custom_details: { alertname: 'ServiceDown' },
  },
  links: [{ href: 'http://127.0.0.1:9093/#/alerts', text: 'Alertmanager' }],
  client: 'Alertmanager',
});

beforeAll(async () => {
  tlsDir = await mkdtemp(path.join(tmpdir(), 'pd-local-tls-'));
  receiver = new Receiver();
  await receiver.start();
  pd = await startPagerDutyLocal({
    http: { port: 0 },
    https: { port: 0, stateDir: tlsDir },
    webhook: { url: receiver.url, secrets: [SECRET], retryBaseDelayMs: 50, maxAttempts: 3 },
    apiTokens: [TOKEN],
  });
  agent = new https.Agent({ ca: pd.caCertPem });
});

afterAll(async () => {
  agent?.destroy();
  await pd?.close();
  await receiver?.stop();
  if (tlsDir) await rm(tlsDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await local(pd, 'POST', '/_local/reset');
  receiver.received.length = 0;
  receiver.respond = () => 202;
});

afterEach(async () => {
  await pd.webhooks.whenIdle();
});

describe('Events API v2 through pdjs event() over HTTPS', () => {
  it('creates, de-duplicates and resolves an incident; a later trigger opens a new one', async () => {
    const first = await sendEvent(triggerData('qnwis/ServiceDown/app-01'));
    expect(first.status).toBe(202);
    expect(first.data).toEqual({
      status: 'success',
      message: 'Event processed',
      dedup_key: 'qnwis/ServiceDown/app-01',
    });

    const dup = await sendEvent(triggerData('qnwis/ServiceDown/app-01'));
    expect(dup.status).toBe(202);
    let incidents = await local<
      { id: string; status: string; trigger_count: number; incident_number: number }[]
    >(pd, 'GET', '/_local/incidents');
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ status: 'triggered', trigger_count: 2, incident_number: 1 });

    const resolved = await sendEvent({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'qnwis/ServiceDown/app-01',
    });
    expect(resolved.data.status).toBe('success');
    const afterResolve = await rest(`/incidents/${incidents[0]?.id}`);
    expect(afterResolve.data.incident.status).toBe('resolved');

    await sendEvent(triggerData('qnwis/ServiceDown/app-01'));
    incidents = await local(pd, 'GET', '/_local/incidents');
    expect(incidents.map((i) => [i.incident_number, i.status])).toEqual([
      [1, 'resolved'],
      [2, 'triggered'],
    ]);

    const events = await local<{ effect: string }[]>(pd, 'GET', '/_local/events');
    expect(events.map((e) => e.effect)).toEqual([
      'incident_created',
      'deduplicated',
      'resolved',
      'incident_created',
    ]);

    await waitFor('three webhooks', () => receiver.received.length >= 3 && receiver.received);
    expect(receiver.received.map((r) => r.body.event.event_type)).toEqual([
      'incident.triggered',
      'incident.resolved',
      'incident.triggered',
    ]);
    const triggered = receiver.received[0]?.body.event;
    expect(triggered?.agent).toMatchObject({ type: 'service_reference', summary: 'QNWIS Production' });
    expect(triggered?.client).toEqual({ name: 'Alertmanager' });
  });

  it('answers a generated dedup_key, PagerDuty’s 400 for invalid events, and 400 for unknown keys under a strict list', async () => {
    const noKey = await sendEvent({ ...triggerData('x'), dedup_key: undefined });
    expect(noKey.data.dedup_key).toMatch(/^[0-9a-f]{32}$/);

    const invalid = await sendEvent({
      routing_key: 'short',
      event_action: 'trigger',
      payload: { summary: 's' },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.data).toEqual({
      status: 'invalid event',
      message: 'Event object is invalid',
      errors: [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'payload.source' is missing or blank",
        "'payload.severity' is missing or blank",
      ],
    });
    const events = await local<{ outcome: string }[]>(pd, 'GET', '/_local/events');
    expect(events.map((e) => e.outcome)).toEqual(['accepted', 'invalid']);
  });

  it('refuses the self-signed endpoint without the local CA (TLS is real)', async () => {
    const params = { server: pd.eventsServer, signal: AbortSignal.timeout(5_000), data: triggerData('tls') };
    await expect(event(params as EventParams)).rejects.toThrow(/certificate/i);
  });
});

describe('REST API through pdjs api()', () => {
  let incidentId: string;

  beforeEach(async () => {
    await sendEvent(triggerData('qnwis/HighErrorRate'));
    const list = await rest('/incidents');
    incidentId = list.data.incidents[0].id;
    await waitFor('the trigger webhook', () => receiver.received.length === 1);
  });

  it('lists incidents with filters, PagerDuty pagination and rate-limit headers', async () => {
    const r = await rest('/incidents', {
      data: { 'statuses[]': ['triggered', 'acknowledged'], 'service_ids[]': [pd.ids.service], total: 'true' },
    });
    expect(r.status).toBe(200);
    expect(r.resource).toBeNull(); // not a pagerduty.com URL
    expect(r.data).toMatchObject({ limit: 25, offset: 0, more: false, total: 1 });
    expect(r.data.incidents[0]).toMatchObject({
      id: incidentId,
      type: 'incident',
      incident_number: 1,
      status: 'triggered',
      incident_key: 'qnwis/HighErrorRate',
      urgency: 'high',
      service: { id: pd.ids.service, type: 'service_reference', summary: 'QNWIS Production' },
      escalation_policy: { id: pd.ids.escalationPolicy, summary: 'QNWIS On-call' },
      assignments: [{ assignee: { id: pd.ids.users.oncall, type: 'user_reference' } }],
      alert_counts: { all: 1, triggered: 1, resolved: 0 },
    });
    expect(r.headers.get('ratelimit-limit')).toBe('960');
    expect(Number(r.headers.get('ratelimit-remaining'))).toBeLessThan(960);
    expect(Number(r.headers.get('ratelimit-reset'))).toBeGreaterThan(0);

    const none = await rest('/incidents', { data: { 'statuses[]': ['resolved'] } });
    expect(none.data.incidents).toEqual([]);
    const bad = await rest('/incidents', { data: { 'statuses[]': ['open'] } });
    expect(bad.status).toBe(400);
    expect(bad.data.error).toMatchObject({ code: 2001, message: 'Invalid Input Provided' });
  });

  it('paginates like PagerDuty: pdjs next() follows more/offset', async () => {
    await sendEvent(triggerData('k2'));
    await sendEvent(triggerData('k3'));
    const first = await rest('/incidents', { data: { limit: '2' } });
    expect(first.data).toMatchObject({ limit: 2, offset: 0, more: true, total: null });
    expect(first.next).toBeTypeOf('function');
    const second = await first.next?.();
    expect(second?.data).toMatchObject({ limit: 2, offset: 2, more: false });
    expect(second?.data.incidents.map((i: { incident_number: number }) => i.incident_number)).toEqual([3]);
  });

  it('acknowledges with From; PagerDuty’s errors without From and for an unknown e-mail', async () => {
    const update = { incident: { type: 'incident_reference', status: 'acknowledged' } };
    const missing = await rest(`/incidents/${incidentId}`, { method: 'PUT', data: update });
    expect(missing.status).toBe(400);
    expect(missing.data.error).toEqual({
      message: 'You must specify a user\'s email address in the "From" header to perform this action',
      code: 2016,
    });
    const outsider = await rest(`/incidents/${incidentId}`, {
      method: 'PUT',
      data: update,
      from: 'outsider@qnwis.lab',
    });
    expect(outsider.status).toBe(400);
    expect(outsider.data.error).toMatchObject({ message: 'Requester User Not Found', code: 1008 });

    const ok = await rest(`/incidents/${incidentId}`, {
      method: 'PUT',
      data: update,
      from: 'oncall@qnwis.lab',
    });
    expect(ok.status).toBe(200);
    expect(ok.data.incident).toMatchObject({
      status: 'acknowledged',
      acknowledgements: [{ acknowledger: { id: pd.ids.users.oncall, type: 'user_reference' } }],
      last_status_change_by: { id: pd.ids.users.oncall },
    });

    const ackHook = await waitFor('the ack webhook', () => receiver.received[1]);
    expect(ackHook.body.event).toMatchObject({
      event_type: 'incident.acknowledged',
      agent: { id: pd.ids.users.oncall, type: 'user_reference' },
      data: { id: incidentId, status: 'acknowledged' },
    });

    const escalate = await rest(`/incidents/${incidentId}`, {
      method: 'PUT',
      data: { incident: { type: 'incident_reference', escalation_level: 2 } },
      from: 'oncall@qnwis.lab',
    });
    expect(escalate.data.incident).toMatchObject({
      status: 'triggered',
      assignments: [{ assignee: { id: pd.ids.users.sre } }],
    });
    const resolve = await rest(`/incidents/${incidentId}`, {
      method: 'PUT',
      data: { incident: { type: 'incident_reference', status: 'resolved' } },
      from: 'sre@qnwis.lab',
    });
    expect(resolve.data.incident.status).toBe('resolved');
    const again = await rest(`/incidents/${incidentId}`, {
      method: 'PUT',
      data: { incident: { type: 'incident_reference', status: 'acknowledged' } },
      from: 'sre@qnwis.lab',
    });
    expect(again.status).toBe(400);
    expect(again.data.error).toMatchObject({ code: 1001, message: 'Incident Already Resolved' });

    await waitFor('four webhooks', () => receiver.received.length === 4);
    expect(receiver.received.map((r) => r.body.event.event_type)).toEqual([
      'incident.triggered',
      'incident.acknowledged',
      'incident.escalated',
      'incident.resolved',
    ]);
  });

  it('adds and lists notes (From required), lists on-calls, users, policies and services', async () => {
    const note = await rest(`/incidents/${incidentId}/notes`, {
      method: 'POST',
      data: { note: { content: 'Looking at app-01 logs' } },
      from: 'sre@qnwis.lab',
    });
    expect(note.status).toBe(201);
    expect(note.data.note).toMatchObject({
      content: 'Looking at app-01 logs',
      user: { id: pd.ids.users.sre },
    });
    const noFrom = await rest(`/incidents/${incidentId}/notes`, {
      method: 'POST',
      data: { note: { content: 'x' } },
    });
    expect(noFrom.data.error.code).toBe(2016);
    const notes = await rest(`/incidents/${incidentId}/notes`);
    expect(notes.data.notes.map((n: { content: string }) => n.content)).toEqual(['Looking at app-01 logs']);
    const annotated = await waitFor('the note webhook', () => receiver.received[1]);
    expect(annotated.body.event).toMatchObject({
      event_type: 'incident.annotated',
      data: { type: 'incident_note', content: 'Looking at app-01 logs', incident: { id: incidentId } },
    });

    const oncalls = await rest('/oncalls', {
      data: { 'escalation_policy_ids[]': [pd.ids.escalationPolicy], 'include[]': ['users'] },
    });
    expect(
      oncalls.data.oncalls.map((o: { escalation_level: number; user: { email: string } }) => [
        o.escalation_level,
        o.user.email,
      ]),
    ).toEqual([
      [1, 'oncall@qnwis.lab'],
      [2, 'sre@qnwis.lab'],
      [3, 'devlead@qnwis.lab'],
      [4, 'manager@qnwis.lab'],
    ]);

    const users = await rest('/users', { data: { query: 'sre@' } });
    expect(users.data.users).toHaveLength(1);
    expect(users.data.users[0]).toMatchObject({ id: pd.ids.users.sre, email: 'sre@qnwis.lab', type: 'user' });
    const outsider = await rest('/users', { data: { query: 'outsider' } });
    expect(outsider.data.users).toEqual([]);

    const policy = await rest(`/escalation_policies/${pd.ids.escalationPolicy}`);
    expect(
      policy.data.escalation_policy.escalation_rules.map(
        (r: { targets: { id: string }[] }) => r.targets[0]?.id,
      ),
    ).toEqual([pd.ids.users.oncall, pd.ids.users.sre, pd.ids.users.devlead, pd.ids.users.manager]);
    const services = await rest('/services');
    expect(services.data.services[0]).toMatchObject({ id: pd.ids.service, name: 'QNWIS Production' });
  });

  it('answers 401 and 404 in PagerDuty’s shape', async () => {
    const unauth = await rest('/incidents', { token: 'wrong' });
    expect(unauth.status).toBe(401);
    expect(unauth.data).toEqual({ error: { message: 'Authentication failed', code: 2006 } });
    expect(unauth.headers.get('ratelimit-limit')).toBe('960');
    const missing = await rest('/incidents/QNOPE');
    expect(missing.status).toBe(404);
    expect(missing.data).toEqual({ error: { message: 'Not Found', code: 2100 } });
  });
});

describe('rate limits', () => {
  let strict: PagerDutyLocal;

  beforeAll(async () => {
    strict = await startPagerDutyLocal({
      http: { port: 0 },
      https: { port: 0, stateDir: tlsDir },
      webhook: { url: receiver.url, secrets: [SECRET] },
      apiTokens: [TOKEN],
      routingKeys: [ROUTING_KEY],
      restRateLimitPerMinute: 3,
      eventsRateLimitPerMinute: 2,
    });
  });

  afterAll(async () => {
    await strict?.close();
  });

  it('REST: 429 with code 2020 and ratelimit headers once the configured limit is exceeded', async () => {
    const call = () =>
      api({ token: TOKEN, url: `${strict.url}/users`, signal: AbortSignal.timeout(5_000), retryTimeout: 10 });
    const remaining = [];
    for (let i = 0; i < 3; i++) remaining.push((await call()).headers.get('ratelimit-remaining'));
    expect(remaining).toEqual(['2', '1', '0']);
    const limited = await call(); // pdjs retries a 429 three times, then hands it back
    expect(limited.status).toBe(429);
    expect(limited.data).toEqual({ error: { message: 'Rate Limit Exceeded', code: 2020 } });
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
  });

  it('Events: 429 per routing key and the event is not ingested; unknown keys are refused', async () => {
    const send = (dedup: string) =>
      event({
        server: strict.eventsServer,
        agent,
        signal: AbortSignal.timeout(5_000),
        retryTimeout: 10,
        data: triggerData(dedup),
      } as EventParams);
    expect((await send('a')).status).toBe(202);
    expect((await send('b')).status).toBe(202);
    const limited = await send('c');
    expect(limited.status).toBe(429);
    expect(strict.store.allIncidents().map((i) => i.incidentKey)).toEqual(['a', 'b']);
    expect(strict.store.events().filter((e) => e.outcome === 'rate_limited').length).toBeGreaterThanOrEqual(
      1,
    );

    const unknown = await event({
      server: strict.eventsServer,
      agent,
      signal: AbortSignal.timeout(5_000),
      data: { ...triggerData('d'), routing_key: 'anotherwellformedkey000000000001' },
    } as EventParams);
    expect(unknown.status).toBe(400);
    expect(unknown.data.errors).toEqual(['Invalid routing key']);
  });
});

describe('Webhooks v3', () => {
  async function triggerOne(dedup: string): Promise<string> {
    const before = pd.store.allIncidents().length;
    await sendEvent(triggerData(dedup));
    const incidents = pd.store.allIncidents();
    expect(incidents).toHaveLength(before + 1);
    return incidents[incidents.length - 1]?.id ?? '';
  }

  it('a phone ack through /_local delivers a signed incident.acknowledged that the documented verifier accepts', async () => {
    const id = await triggerOne('qnwis/DatabaseDown');
    const res = await local<{ incident: { status: string } }>(pd, 'POST', `/_local/incidents/${id}/ack`, {
      user: 'oncall@qnwis.lab',
    });
    expect(res.incident.status).toBe('acknowledged');

    const hook = await waitFor('the ack webhook', () =>
      receiver.received.find((r) => r.body.event.event_type === 'incident.acknowledged'),
    );
    expect(verifyFromDocs(hook.raw, hook.headers['x-pagerduty-signature'] as string, SECRET)).toBe(true);
    expect(verifyFromDocs(hook.raw, hook.headers['x-pagerduty-signature'] as string, 'another-secret')).toBe(
      false,
    );
    const tampered = Buffer.from(hook.raw.toString('utf8').replace('acknowledged', 'resolved'));
    expect(verifyFromDocs(tampered, hook.headers['x-pagerduty-signature'] as string, SECRET)).toBe(false);
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['user-agent']).toBe('PagerDuty-Webhook/V3.0');
    expect(hook.headers['x-webhook-subscription']).toBe(pd.ids.webhookSubscription);
    expect(hook.headers['x-webhook-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(hook.body.event).toMatchObject({
      event_type: 'incident.acknowledged',
      resource_type: 'incident',
      agent: { id: pd.ids.users.oncall, type: 'user_reference', summary: 'Lab On-call Engineer' },
      client: { name: 'PagerDuty' },
      data: {
        id,
        type: 'incident',
        status: 'acknowledged',
        number: 1,
        incident_key: 'qnwis/DatabaseDown',
        title: 'ServiceDown on qnwis/DatabaseDown',
        service: { id: pd.ids.service, type: 'service_reference' },
        assignees: [{ id: pd.ids.users.oncall, type: 'user_reference' }],
        escalation_policy: { id: pd.ids.escalationPolicy },
        urgency: 'high',
        resolve_reason: null,
      },
    });
    expect(Number.isNaN(Date.parse(hook.body.event.occurred_at))).toBe(false);
    // Ordered per incident: the trigger came first.
    expect(receiver.received.map((r) => r.body.event.event_type)).toEqual([
      'incident.triggered',
      'incident.acknowledged',
    ]);

    const outsider = await fetch(`${pd.url}/_local/incidents/${id}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'outsider@qnwis.lab' }),
    });
    expect(outsider.status).toBe(400);
  });

  it('signs with both secrets during a rotation', async () => {
    await local(pd, 'PUT', '/_local/webhooks/subscription', { secrets: ['whsec-next', SECRET] });
    try {
      await triggerOne('rotation');
      const hook = await waitFor('a webhook', () => receiver.received[0]);
      const header = hook.headers['x-pagerduty-signature'] as string;
      expect(header.split(',')).toHaveLength(2);
      expect(verifyFromDocs(hook.raw, header, SECRET)).toBe(true);
      expect(verifyFromDocs(hook.raw, header, 'whsec-next')).toBe(true);
    } finally {
      await local(pd, 'PUT', '/_local/webhooks/subscription', { secrets: [SECRET] });
    }
  });

  it('retries a 500 with the same X-Webhook-Id, then delivers', async () => {
    receiver.respond = (n) => (n === 0 ? 500 : 200);
    await triggerOne('retry');
    await waitFor('the retry', () => receiver.received.length === 2);
    const [a, b] = receiver.received;
    expect(a?.headers['x-webhook-id']).toBe(b?.headers['x-webhook-id']);
    expect(a?.raw.equals(b?.raw ?? Buffer.alloc(0))).toBe(true);
    await pd.webhooks.whenIdle();
    const inspection = await local<{
      webhooks: { state: string; attempts: number }[];
      attempts: { status: number; outcome: string }[];
    }>(pd, 'GET', '/_local/webhooks');
    expect(inspection.attempts.map((x) => [x.status, x.outcome])).toEqual([
      [500, 'retry'],
      [200, 'delivered'],
    ]);
    expect(inspection.webhooks[0]).toMatchObject({ state: 'delivered', attempts: 2 });
  });

  it('three 400s in a row disable the subscription; later changes are not sent until re-enabled', async () => {
    receiver.respond = () => 400;
    for (const k of ['d1', 'd2', 'd3']) {
      await triggerOne(k);
      await pd.webhooks.whenIdle();
    }
    expect(receiver.received).toHaveLength(3); // no retries on 4xx
    let inspection = await local<{
      subscription: { enabled: boolean; consecutive_drops: number; disabled_until: string | null };
      webhooks: { state: string }[];
    }>(pd, 'GET', '/_local/webhooks');
    expect(inspection.subscription).toMatchObject({ enabled: false, consecutive_drops: 3 });
    expect(inspection.subscription.disabled_until).not.toBeNull();

    receiver.respond = () => 200;
    await triggerOne('d4');
    await pd.webhooks.whenIdle();
    expect(receiver.received).toHaveLength(3);
    inspection = await local(pd, 'GET', '/_local/webhooks');
    expect(inspection.webhooks.map((w) => w.state)).toEqual([
      'dropped',
      'dropped',
      'dropped',
      'not_sent_disabled',
    ]);

    await local(pd, 'POST', '/_local/webhooks/enable');
    await triggerOne('d5');
    await waitFor('delivery after re-enabling', () => receiver.received.length === 4);
  });
});

describe('page, CA and the CLI', () => {
  it('serves the incident page and the CA', async () => {
    const page = await fetch(`${pd.url}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('Acknowledge');
    expect(html).not.toMatch(/<script[^>]+src=/);
    const ca = await fetch(`${pd.url}/_local/ca.pem`);
    expect(await ca.text()).toBe(pd.caCertPem);
  });

  it('the CLI starts, reports readiness, and NODE_EXTRA_CA_CERTS lets pdjs event() trust it in a child process', async () => {
    const cwd = process.cwd();
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/dev/pagerduty/main.ts',
        '--listen',
        '127.0.0.1:0',
        '--https-listen',
        '127.0.0.1:0',
        '--state-dir',
        tlsDir,
        '--webhook-url',
        receiver.url,
      ],
      {
        cwd,
        env: { ...process.env, PAGERDUTY_LOCAL_WEBHOOK_SECRET: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      cli.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
      });
      const ready = await waitFor(
        'the ready line',
        () =>
          out
            .split('\n')
            .filter((l) => l.includes('PagerDuty stand-in ready'))
            .map(
              (l) => JSON.parse(l) as { url: string; httpsUrl: string; caCertPath: string; health: string },
            )[0],
        15_000,
      );
      const health = (await (await fetch(ready.health)).json()) as { ok: boolean; routing_key: string };
      expect(health).toMatchObject({ ok: true, routing_key: ROUTING_KEY });
      expect(ready.caCertPath).toBe(path.join(tlsDir, 'ca.pem'));

      const script = `
        const { event } = require('@pagerduty/pdjs');
        event({ server: process.argv[1], signal: AbortSignal.timeout(5000), data: {
          routing_key: '${ROUTING_KEY}', event_action: 'trigger', dedup_key: 'child',
          payload: { summary: 'from a child process', source: 'ci', severity: 'info' } } })
          .then((r) => { console.log(JSON.stringify({ status: r.status, data: r.data })); process.exit(0); },
                (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });`;
      const child = spawn(process.execPath, ['-e', script, new URL(ready.httpsUrl).host], {
        cwd,
        env: { ...process.env, NODE_EXTRA_CA_CERTS: ready.caCertPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let childOut = '';
      child.stdout.on('data', (c: Buffer) => {
        childOut += c.toString('utf8');
      });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      expect(JSON.parse(childOut)).toEqual({
        status: 202,
        data: { status: 'success', message: 'Event processed', dedup_key: 'child' },
      });
      expect(code).toBe(0);
    } finally {
      cli.kill('SIGTERM');
      await new Promise((r) => cli.once('exit', r));
    }
  }, 30_000);
});
