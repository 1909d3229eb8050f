/** The bot's own health and metrics, behind the ops token. */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/jobs/queues.js';
import { eventually, notification, postAlertmanager, startTestBot, type TestBot } from '../support/bot.js';

let bot: TestBot;
beforeAll(async () => {
  bot = await startTestBot();
});
afterAll(async () => {
  await bot?.stop();
});

const get = (path: string, token?: string) =>
  fetch(`${bot.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('/health/detailed and /metrics', () => {
  it('refuse without the ops token', async () => {
    expect((await get('/health/detailed')).status).toBe(401);
    expect((await get('/metrics', 'wrong-token-wrong-token')).status).toBe(401);
    expect((await get('/health')).status).toBe(200);
  });

  it('report the database, the queues and the alerting heartbeat', async () => {
    const before = (await (await get('/health/detailed', bot.opsToken)).json()) as {
      status: string;
      checks: { database: { ok: boolean }; alertingHeartbeat: { ok: boolean; lastSeen: string | null } };
    };
    expect(before.checks.database.ok).toBe(true);
    // No Watchdog yet: alerting is not proven alive.
    expect(before).toMatchObject({
      status: 'degraded',
      checks: { alertingHeartbeat: { ok: false, lastSeen: null } },
    });

    await postAlertmanager(bot, notification('Watchdog', { labels: { severity: 'none' } }));
    const after = (await (await get('/health/detailed', bot.opsToken)).json()) as {
      status: string;
      checks: { queues: { counts: Record<string, unknown> } };
    };
    expect(after.status).toBe('ok');
    // Every queue of the catalog, the escalation clock's included.
    expect(Object.keys(after.checks.queues.counts).sort()).toEqual(Object.keys(QUEUE_NAMES).sort());
    expect(Object.keys(after.checks.queues.counts)).toContain('escalations');
  });

  it('count webhooks by outcome and expose queue depths', async () => {
    await postAlertmanager(bot, notification('MetricsProbe', { labels: { severity: 'warning' } }));
    await postAlertmanager(
      bot,
      notification('MetricsProbe', { labels: { severity: 'warning' } }),
      'nope-nope-nope-nope',
    );
    const text = await eventually('the metrics', async () => {
      const body = await (await get('/metrics', bot.opsToken)).text();
      return body.includes('outcome="unauthorized"') ? body : null;
    });
    expect(text).toMatch(/qnwis_chatops_webhooks_total\{source="alertmanager",outcome="stored"\} \d+/);
    expect(text).toMatch(/qnwis_chatops_queue_jobs\{queue="slack",state="\w+"\} \d+/);
    expect(text).toMatch(/qnwis_chatops_alerting_heartbeat_age_seconds -?\d+/);
  });
});
