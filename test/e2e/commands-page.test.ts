/**
 * `/qnwis status` typed on the chat page in Chromium, as the on-call: the stand-in delivers the
 * signed command to a Bolt app carrying `registerQnwisCommand` with the real fleet adapters against
 * the lab, and the page shows the "Running…" note and then the status of every host. The outsider
 * typing the same is refused. Leaves test-results/qnwis-status.png.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQnwisCommandDeps, registerQnwisCommand } from '../../src/bot/commands/register.js';
import { parseConfig } from '../../src/config.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createFleetOps, type FleetOps } from '../../src/ops/index.js';
import { CommandAuditStore } from '../../src/store/audit.js';
import { IncidentStore } from '../../src/store/incidents.js';
import { launchChromium } from '../support/browser.js';
import { labCredentials, labInventory } from '../support/lab.js';
import { createTestStore, type TestStore } from '../support/store.js';

const SECRET = randomBytes(16).toString('hex');
const SCREENSHOT = 'test-results/qnwis-status.png';

let slack: SlackLocal;
let app: App;
let server: Server;
let store: TestStore;
let fleet: FleetOps;
let browser: Browser;
let closeDeps: () => Promise<void>;

beforeAll(async () => {
  const inventory = labInventory();
  const creds = await labCredentials();
  const config = parseConfig({ QNWIS_DB_PASSWORD: creds.postgres.ops, QNWIS_ADMIN_TOKEN: creds.adminToken });
  store = await createTestStore();
  fleet = createFleetOps(config, inventory, silentLogger);
  const deps = createQnwisCommandDeps({
    config,
    inventory,
    diagnostics: fleet.context,
    db: store.db,
    store: new IncidentStore(store.db),
    log: silentLogger,
  });
  closeDeps = deps.close;
  slack = await startSlackLocal({ signingSecret: SECRET, port: 0 });
  app = new App({
    token: 'xoxb-commands-e2e',
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
    tokenVerificationEnabled: false,
  });
  registerQnwisCommand(app, deps);
  server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  slack.setBotUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await slack?.close();
  await closeDeps?.();
  await fleet?.close();
  await store?.drop();
});

async function messageWithText(page: Page, text: string, timeout = 20_000) {
  const locator = page.locator('#messages [data-testid="message"]', { hasText: text });
  await locator.first().waitFor({ state: 'visible', timeout });
  return locator.first();
}

async function typeCommand(page: Page, user: string, text: string): Promise<void> {
  await page.selectOption('#user-select', user);
  await page.fill('#composer-input', text);
  await page.press('#composer-input', 'Enter');
}

describe('/qnwis on the chat page', () => {
  it('the on-call types /qnwis status and sees every host’s status in the channel', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1400 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    try {
      await page.goto(slack.url);
      await page.waitForSelector('body[data-ready="true"]');
      await expect(page.locator('#channel-title').textContent()).resolves.toBe('#qnwis-ops');
      await page.selectOption('#user-select', 'U0ONCALL01');
      await page.locator('#user-role', { hasText: 'L1 on-call engineer' }).waitFor();

      const started = Date.now();
      await typeCommand(page, 'U0ONCALL01', '/qnwis status');
      const running = await messageWithText(page, 'Running /qnwis status');
      await expect(running.locator('.ephemeral-note').isVisible()).resolves.toBe(true);

      const status = await messageWithText(page, 'QNWIS status · lab');
      const tookMs = Date.now() - started;
      const text = (await status.textContent()) ?? '';
      for (const part of [
        'App hosts',
        'app-01',
        'app-02',
        'app-03',
        'Database',
        'db-primary',
        'Redis',
        'redis-01',
        'Maintenance mode',
        'Open incidents',
      ]) {
        expect(text).toContain(part);
      }
      // In the channel for everyone, not only for the on-call.
      await expect(status.locator('.ephemeral-note').count()).resolves.toBe(0);
      expect(tookMs).toBeLessThan(15_000);

      mkdirSync('test-results', { recursive: true });
      await status.scrollIntoViewIfNeeded();
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);

      const audit = await new CommandAuditStore(store.db).recent({ userId: 'U0ONCALL01' });
      expect(audit[0]).toMatchObject({ verb: 'status', result: 'ok', role: 'L1', rawText: 'status' });
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('the outsider typing the same is refused, politely and only to them', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(slack.url);
      await page.waitForSelector('body[data-ready="true"]');
      await typeCommand(page, 'U0OUTSIDE1', '/qnwis status');
      const refusal = await messageWithText(page, 'is limited to L1 on-call engineer');
      await expect(refusal.locator('.ephemeral-note').isVisible()).resolves.toBe(true);
      const audit = await new CommandAuditStore(store.db).recent({ userId: 'U0OUTSIDE1' });
      expect(audit[0]).toMatchObject({ verb: 'status', result: 'refused', role: null });
    } finally {
      await page.close();
    }
  });
});
