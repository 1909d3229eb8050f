/**
 * The demo path in a real browser: an alert fired into the lab's Alertmanager reaches the bot and
 * appears, live, on the local Slack page in its routed channel. Leaves test-results/alert-on-page.png.
 */
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { lab } from '../support/lab.js';

let browser: Browser;
const probe = `PageProbe${randomBytes(3).toString('hex')}`;

async function fire(endsAt?: string): Promise<void> {
  const res = await fetch(`http://${lab.alertmanagerListen}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        labels: { alertname: probe, severity: 'critical', service: 'postgres', host: 'db-primary' },
        annotations: {
          summary: 'Replication stalled on db-replica',
          description: 'Browser probe from the e2e suite.',
        },
        startsAt: new Date().toISOString(),
        ...(endsAt ? { endsAt } : {}),
      },
    ]),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await fire(new Date().toISOString()).catch(() => undefined);
  await browser?.close();
});

describe('the chat page', () => {
  it('shows an alert arriving in its routed channel, live', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(lab.standInUrls().slackUrl);
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('button[data-channel]', { hasText: 'qnwis-db' }).click();
    await expect(page.locator('#channel-title').textContent()).resolves.toBe('#qnwis-db');

    await fire();
    // An unknown critical alert is SEV-2 per the runbook policy; service=postgres routes to #qnwis-db.
    const message = page.locator('#messages [data-testid="message"]', { hasText: `SEV-2 · ${probe}` });
    await message
      .first()
      .waitFor({ state: 'visible', timeout: 20_000 })
      .catch(async (err: unknown) => {
        await page.screenshot({ path: 'test-results/alert-on-page-failed.png' });
        throw err;
      });
    await expect(message.first().textContent()).resolves.toContain('Replication stalled on db-replica');
    await message.first().getByRole('button', { name: 'Silence' }).waitFor({ timeout: 5000 });
    // SEV-2 is paged: once PagerDuty's webhook links the incident, the message gains its button.
    await message.first().getByRole('button', { name: 'PagerDuty incident' }).waitFor({ timeout: 20_000 });
    await page.screenshot({ path: 'test-results/alert-on-page.png' });
  });
});
