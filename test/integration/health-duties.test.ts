/**
 * What issue 7 adds to the bot's own /health/detailed and /metrics: Redis, every queue (duties
 * included), the dead-man switch's state, incidents by status and severity, escalations and duties.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notification, postAlertmanager, startTestBot, type TestBot } from '../support/bot.js';

let bot: TestBot;
beforeAll(async () => {
  bot = await startTestBot();
});
afterAll(async () => {
  await bot?.stop();
});

const get = (path: string) =>
  fetch(`${bot.url}${path}`, { headers: { authorization: `Bearer ${bot.opsToken}` } });

describe('health and metrics for issue 7', () => {
  it('/health/detailed checks Redis and lists the duties queue; no dead-man switch state before its first outage', async () => {
    const health = (await (await get('/health/detailed')).json()) as {
      checks: {
        redis: { ok: boolean; latencyMs: number };
        queues: { counts: Record<string, Record<string, number>> };
        alertingHeartbeat: { deadManSwitch: unknown };
      };
    };
    expect(health.checks.redis.ok).toBe(true);
    expect(health.checks.queues.counts.duties).toMatchObject({
      waiting: expect.any(Number),
      failed: expect.any(Number),
    });
    expect(health.checks.alertingHeartbeat.deadManSwitch).toBeNull();
  });

  it('/metrics counts incidents by status and severity at scrape time', async () => {
    const before = await (await get('/metrics')).text();
    expect(before).not.toMatch(/qnwis_chatops_incidents\{status="firing",severity="SEV-3"\}/);
    await postAlertmanager(
      bot,
      notification('HealthProbe', { labels: { severity: 'warning', service: 'qnwis' } }),
    );
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/qnwis_chatops_incidents\{status="firing",severity="SEV-3"\} 1\n/);
    expect(text).toMatch(/qnwis_chatops_queue_jobs\{queue="duties",state="waiting"\} \d+/);
    expect(text).toContain('# TYPE qnwis_chatops_escalations_total counter');
    expect(text).toContain('# TYPE qnwis_chatops_duties_total counter');
  });
});
