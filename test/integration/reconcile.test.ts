/**
 * Drift repair: an incident the bot still shows as firing although Alertmanager no longer has its
 * alert (a lost resolved notification) is resolved by reconciliation against the real
 * Alertmanager, and the thread says why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  bot = await startTestBot({ env: { RECONCILE_INTERVAL_SEC: '1' } });
});
afterAll(async () => {
  await bot?.stop();
});

describe('reconciliation with Alertmanager', () => {
  it('resolves an incident whose alert Alertmanager no longer has, and says so in the thread', {
    timeout: 30_000,
  }, async () => {
    // Delivered to the bot directly: the lab's Alertmanager has never heard of this alert, as if
    // its resolution had been lost while the bot was down.
    await postAlertmanager(
      bot,
      notification('DriftProbe', { labels: { severity: 'warning', service: 'qnwis' } }),
    );
    const top = await eventually('the incident message', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find((m) => isTopLevel(m) && m.text.includes('DriftProbe')),
    );
    expect(top.text).toContain('FIRING');
    await eventually(
      'reconciliation to resolve it',
      async () =>
        (await slackMessages(bot, 'qnwis-alerts')).find(
          (m) => m.ts === top.ts && m.text.includes('RESOLVED'),
        ),
      20_000,
    );
    await eventually('the reconciliation note in the thread', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find(
        (m) =>
          m.thread_ts === top.ts && m.ts !== top.ts && m.text.includes('marked resolved by reconciliation'),
      ),
    );
    const row = await bot.db.query("SELECT status FROM incidents WHERE alertname = 'DriftProbe'");
    expect(row.rows[0]?.status).toBe('resolved');
  });

  it('posts an incident whose delivery job was lost', { timeout: 30_000 }, async () => {
    // Stored as the intake stores it, but no Slack job is queued: as if a worker died with it.
    const { IncidentStore } = await import('../../src/store/incidents.js');
    const { createRouter, DEFAULT_ROUTES } = await import('../../src/incidents/routing.js');
    const { webhookSchema } = await import('../../src/incidents/alertmanager.js');
    const store = new IncidentStore(bot.db);
    const body = webhookSchema.parse(
      notification('LostJobProbe', { labels: { severity: 'warning', service: 'qnwis' } }),
    );
    await store.recordNotification(body, {
      router: createRouter(DEFAULT_ROUTES, 'qnwis-alerts'),
      appHosts: ['app-01', 'app-02', 'app-03'],
      heartbeatAlerts: new Set(['Watchdog']),
    });
    await eventually(
      'reconciliation to post it',
      async () =>
        (await slackMessages(bot, 'qnwis-alerts')).find(
          (m) => isTopLevel(m) && m.text.includes('LostJobProbe'),
        ),
      20_000,
    );
  });
});
