/**
 * Alerts in, through the real bot: HTTP → store → BullMQ → Slack stand-in and PagerDuty stand-in.
 * Bad input never stores anything; duplicates never post twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPagerDuty } from '../../src/handlers/pagerduty-signature.js';
import {
  eventually,
  isTopLevel,
  notification,
  postAlertmanager,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';

let bot: TestBot;

beforeAll(async () => {
  bot = await startTestBot();
});
afterAll(async () => {
  await bot?.stop();
});

async function counts() {
  const r = await bot.db.query(
    `SELECT (SELECT count(*) FROM incidents)::int AS incidents, (SELECT count(*) FROM alert_receipts)::int AS receipts,
            (SELECT count(*) FROM pagerduty_webhooks)::int AS pd`,
  );
  return r.rows[0] as { incidents: number; receipts: number; pd: number };
}

async function pdIncidents() {
  const res = await fetch(`${bot.pagerduty.url}/_local/incidents`);
  return (await res.json()) as { id: string; status: string; incident_key: string }[];
}

describe('the Alertmanager webhook refuses bad input and stores nothing', () => {
  const valid = () => notification('BadInputProbe', { labels: { severity: 'warning' } });

  it.each([
    ['a missing token', { auth: null }, 401],
    ['a wrong token', { auth: 'Bearer nope' }, 401],
    ['truncated JSON', { body: '{"version":"4","groupKey":"x","alerts":[' }, 400],
    ['not JSON at all', { body: 'alertname=HighErrorRate' }, 400],
    ['a wrong version', { body: JSON.stringify({ ...valid(), version: '3' }) }, 400],
    [
      'wrong types',
      { body: JSON.stringify({ ...valid(), alerts: [{ ...valid().alerts[0], labels: 'x' }] }) },
      400,
    ],
    ['no alerts', { body: JSON.stringify({ ...valid(), alerts: [] }) }, 400],
    [
      'an alert without a fingerprint',
      { body: JSON.stringify({ ...valid(), alerts: [{ ...valid().alerts[0], fingerprint: '' }] }) },
      400,
    ],
    ['a 5 MiB body', { body: JSON.stringify({ ...valid(), padding: 'x'.repeat(5 * 1024 * 1024) }) }, 413],
  ])('%s → %s', async (_what, input: { auth?: string | null; body?: string }, status) => {
    const before = await counts();
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (input.auth !== null) headers.authorization = input.auth ?? `Bearer ${bot.token}`;
    const res = await fetch(`${bot.url}/webhooks/alertmanager`, {
      method: 'POST',
      headers,
      body: input.body ?? JSON.stringify(valid()),
    });
    expect(res.status).toBe(status);
    expect(await counts()).toEqual(before);
    // Still alive and serving.
    expect((await fetch(`${bot.url}/health`)).status).toBe(200);
  });

  it('accepts unknown fields (newer Alertmanagers add them)', async () => {
    const body = { ...notification('UnknownFieldsProbe'), notification_reason: 'new', extra: { a: 1 } };
    expect((await postAlertmanager(bot, body)).status).toBe(200);
  });
});

describe('one incident, one message, one page', () => {
  it('the same webhook 10 times, or from two Alertmanagers at once, gives one message and one PagerDuty incident', async () => {
    const body = notification('DatabaseDown', { labels: { service: 'postgres', severity: 'critical' } });
    const results = await Promise.all(Array.from({ length: 10 }, () => postAlertmanager(bot, body)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));

    const top = await eventually('the DatabaseDown message in #qnwis-db', async () => {
      const msgs = (await slackMessages(bot, 'qnwis-db')).filter(
        (m) => isTopLevel(m) && m.text.includes('DatabaseDown'),
      );
      return msgs.length > 0 ? msgs : null;
    });
    const incident = await eventually('a PagerDuty incident', async () => {
      const list = (await pdIncidents()).filter((i) => i.status === 'triggered');
      return list.length > 0 ? list : null;
    });
    // Let any straggling job run, then count again.
    await new Promise((r) => setTimeout(r, 1500));
    const messages = (await slackMessages(bot, 'qnwis-db')).filter(
      (m) => isTopLevel(m) && m.text.includes('DatabaseDown'),
    );
    expect(messages).toHaveLength(1);
    expect(top[0]?.text).toMatch(/^SEV-1 DatabaseDown FIRING/);
    expect(incident).toHaveLength(1);
    expect((await counts()).incidents).toBeGreaterThanOrEqual(1);

    // Resolution: the same message turns resolved; PagerDuty resolves; nothing new at top level.
    const resolved = notification('DatabaseDown', {
      status: 'resolved',
      labels: { service: 'postgres', severity: 'critical' },
      fingerprint: body.alerts[0]?.fingerprint ?? '',
    });
    expect((await postAlertmanager(bot, resolved)).status).toBe(200);
    await eventually('the message to turn resolved', async () => {
      const m = (await slackMessages(bot, 'qnwis-db')).filter(
        (x) => isTopLevel(x) && x.text.includes('DatabaseDown'),
      );
      return m.length === 1 && m[0]?.text.includes('RESOLVED');
    });
    await eventually('PagerDuty to resolve', async () =>
      (await pdIncidents()).every((i) => i.status === 'resolved'),
    );
  });

  it('SEV-3 is posted but never paged', async () => {
    const before = (await pdIncidents()).length;
    await postAlertmanager(
      bot,
      notification('QueryLatencyHigh', { labels: { severity: 'warning', service: 'qnwis' } }),
    );
    await eventually('the SEV-3 message', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find((m) => m.text.startsWith('SEV-3 QueryLatencyHigh')),
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect((await pdIncidents()).length).toBe(before);
  });
});

describe('the PagerDuty webhook', () => {
  function signed(body: unknown, secret = bot.pagerdutySecret) {
    const raw = JSON.stringify(body);
    return { raw, signature: signPagerDuty(raw, secret) };
  }
  const ackEvent = (pdIncidentId: string, key: string) => ({
    event: {
      id: `01E${Math.random().toString(36).slice(2, 12).toUpperCase()}`,
      event_type: 'incident.acknowledged',
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: { id: 'PL1ONCL', summary: 'Jane Doe', type: 'user_reference' },
      data: { id: pdIncidentId, type: 'incident', incident_key: key, status: 'acknowledged' },
    },
  });
  const post = (raw: string, headers: Record<string, string>) =>
    fetch(`${bot.url}/webhooks/pagerduty`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: raw,
    });

  it('refuses a bad signature with 401 and stores nothing', async () => {
    const before = await counts();
    const { raw } = signed(ackEvent('PX', 'QNWIS-1'));
    expect(
      (await post(raw, { 'x-pagerduty-signature': signPagerDuty(raw, 'wrong'), 'x-webhook-id': 'w-bad' }))
        .status,
    ).toBe(401);
    expect((await post(raw, { 'x-webhook-id': 'w-none' })).status).toBe(401);
    const tampered = raw.replace('Jane Doe', 'Mallory');
    expect(
      (
        await post(tampered, {
          'x-pagerduty-signature': signPagerDuty(raw, bot.pagerdutySecret),
          'x-webhook-id': 'w-t',
        })
      ).status,
    ).toBe(401);
    expect(await counts()).toEqual(before);
  });

  it('acknowledgement in PagerDuty updates the incident and says so in Slack; a replay changes nothing', async () => {
    const body = notification('HighErrorRate', {
      labels: { severity: 'critical', host: 'app-01', service: 'qnwis' },
    });
    await postAlertmanager(bot, body);
    const top = await eventually('the HighErrorRate message', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find(
        (m) => isTopLevel(m) && m.text.includes('HighErrorRate'),
      ),
    );
    // Acknowledge "from a phone" in the PagerDuty stand-in: it sends a signed v3 webhook to the bot.
    const pd = await eventually('the PagerDuty incident', async () =>
      (await pdIncidents()).find((i) => i.status === 'triggered'),
    );
    const ack = await fetch(`${bot.pagerduty.url}/_local/incidents/${pd.id}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'oncall@qnwis.lab' }),
    });
    expect(ack.status).toBeLessThan(300);
    await eventually('the acknowledgement in the thread', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find(
        (m) => m.thread_ts === top.ts && /Acknowledged in PagerDuty/.test(m.text),
      ),
    );
    await eventually('the message to show ACKNOWLEDGED', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find((m) => m.ts === top.ts && /ACKNOWLEDGED/.test(m.text)),
    );
    const row = await bot.db.query(
      "SELECT status, acknowledged_by FROM incidents WHERE alertname = 'HighErrorRate'",
    );
    expect(row.rows[0]).toMatchObject({ status: 'acknowledged' });

    // A replayed delivery (same X-Webhook-Id) is answered 2xx and applied once.
    const replay = ackEvent(pd.id, 'QNWIS-x');
    const { raw, signature } = signed(replay);
    const first = await post(raw, { 'x-pagerduty-signature': signature, 'x-webhook-id': 'replay-1' });
    const again = await post(raw, { 'x-pagerduty-signature': signature, 'x-webhook-id': 'replay-1' });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate' });
  });

  it('accepts a rotation list where any signature matches', async () => {
    const { raw } = signed(ackEvent('PNOPE', 'QNWIS-0'));
    const header = `${signPagerDuty(raw, 'old-secret')},${signPagerDuty(raw, bot.pagerdutySecret)}`;
    const res = await post(raw, { 'x-pagerduty-signature': header, 'x-webhook-id': 'rot-1' });
    expect(res.status).toBeLessThan(300);
  });
});
