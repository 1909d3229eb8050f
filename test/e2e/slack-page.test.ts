/**
 * The chat page in a real browser (Debian's Chromium driven by playwright-core) against the
 * stand-in and a small real Bolt app: a person switches to the on-call, types `/qnwis status`,
 * clicks the bot's button, confirms, and sees the bot's update. Leaves test-results/slack-page.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';

const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'e2e-page-signing-secret-0123456789';
const SCREENSHOT = 'test-results/slack-page.png';

let slack: SlackLocal;
let app: App;
let botUrl: string;
let browser: Browser;
const clicks: { user: string; action: string }[] = [];

function statusBlocks(user: string) {
  return [
    { type: 'header', text: { type: 'plain_text', text: 'QNWIS status · app-01 degraded' } },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `Requested by <@${user}>. *app-01* fails its health check; \`/health\` answers *503* for 4 min.`,
      },
    },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*Service*\nqnwis-api' },
        { type: 'mrkdwn', text: '*Host*\napp-01 (127.0.1.1)' },
        { type: 'mrkdwn', text: '*Since*\n10:42 AST' },
        { type: 'mrkdwn', text: '*Severity*\ncritical' },
      ],
    },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'Alert `QnwisInstanceDown` · runbook step 2 of 5' }],
    },
    { type: 'divider' },
    {
      type: 'actions',
      block_id: 'status_actions',
      elements: [
        {
          type: 'button',
          action_id: 'restart_app',
          style: 'danger',
          value: 'app-01',
          text: { type: 'plain_text', text: 'Restart app-01' },
          confirm: {
            title: { type: 'plain_text', text: 'Restart app-01?' },
            text: {
              type: 'mrkdwn',
              text: 'This restarts *qnwis-api* on app-01. Traffic drains through the load balancer first.',
            },
            confirm: { type: 'plain_text', text: 'Restart' },
            deny: { type: 'plain_text', text: 'Cancel' },
            style: 'danger',
          },
        },
        {
          type: 'button',
          action_id: 'show_logs',
          style: 'primary',
          value: 'app-01',
          text: { type: 'plain_text', text: 'Show logs' },
        },
        {
          type: 'button',
          action_id: 'silence',
          value: '1h',
          text: { type: 'plain_text', text: 'Silence 1h' },
        },
      ],
    },
  ];
}

async function startBot(): Promise<{ app: App; url: string }> {
  const bolt = new App({
    token: 'xoxb-e2e-page',
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
  });
  bolt.command('/qnwis', async ({ command, ack, say, client }) => {
    await ack();
    const posted = await say({
      text: 'QNWIS status: app-01 degraded',
      blocks: statusBlocks(command.user_id),
    });
    await client.chat.postMessage({
      channel: command.channel_id,
      thread_ts: posted.ts,
      text: 'Diagnostics: `systemctl is-active qnwis` → *inactive*; last log line ```ERROR bind: address already in use```',
    });
  });
  bolt.action('restart_app', async ({ ack, body, client, respond }) => {
    await ack();
    if (body.type !== 'block_actions' || !body.channel || !body.message) return;
    clicks.push({ user: body.user.id, action: 'restart_app' });
    await client.chat.update({
      channel: body.channel.id,
      ts: body.message.ts,
      text: 'Restart of app-01 approved',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'QNWIS status · app-01 restarting' } },
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `:white_check_mark: Restart of *app-01* approved by <@${body.user.id}>`,
          },
        },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: 'Job `restart-app-01` queued · health gate 60 s' }],
        },
      ],
    });
    await respond({
      response_type: 'ephemeral',
      replace_original: false,
      text: 'You approved the restart of app-01.',
    });
  });
  const server = (await bolt.start({ port: 0, host: '127.0.0.1' })) as Server;
  return { app: bolt, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events` };
}

async function messageWithText(page: Page, text: string) {
  const locator = page.locator('#messages [data-testid="message"]', { hasText: text });
  await locator.first().waitFor({ state: 'visible', timeout: 10_000 });
  return locator.first();
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Debian Chromium is required for this test and was not found at ${CHROMIUM}. Install it with "apt-get install -y chromium" (CI does).`,
    );
  }
  slack = await startSlackLocal({ signingSecret: SECRET, port: 0 });
  const bot = await startBot();
  app = bot.app;
  botUrl = bot.url;
  slack.setBotUrl(botUrl);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await slack?.close();
});

describe('the local Slack page', () => {
  it('runs /qnwis status as the on-call, clicks a confirmed button and shows the update', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(slack.url);
    await page.waitForSelector('body[data-ready="true"]');
    await expect(page.locator('#channel-title').textContent()).resolves.toBe('#qnwis-ops');

    // Act as the senior SRE first, then switch to the on-call: the role follows.
    await page.selectOption('#user-select', 'U0SRE00001');
    await expect(page.locator('#user-role').textContent()).resolves.toContain('L2 senior SRE');
    await page.selectOption('#user-select', 'U0ONCALL01');
    await page.locator('#user-role', { hasText: 'L1 on-call engineer' }).waitFor();

    await page.fill('#composer-input', '/qnwis status');
    await page.press('#composer-input', 'Enter');

    const status = await messageWithText(page, 'QNWIS status · app-01 degraded');
    await expect(status.locator('.b-fields .b-text').count()).resolves.toBe(4);
    await expect(status.locator('.mention').first().textContent()).resolves.toBe('@oncall');
    await status.locator('.replies-bar', { hasText: '1 reply' }).waitFor();

    await status.getByRole('button', { name: 'Restart app-01' }).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor();
    await expect(dialog.locator('h2').textContent()).resolves.toBe('Restart app-01?');
    await dialog.getByRole('button', { name: 'Restart', exact: true }).click();

    const updated = await messageWithText(page, 'Restart of app-01 approved by @oncall');
    await expect(updated.locator('.edited').textContent()).resolves.toBe('(edited)');
    await expect(updated.locator('.b-header').textContent()).resolves.toBe(
      'QNWIS status · app-01 restarting',
    );
    const ephemeral = await messageWithText(page, 'You approved the restart of app-01.');
    await expect(ephemeral.locator('.ephemeral-note').textContent()).resolves.toContain(
      'Only visible to you',
    );
    expect(clicks).toEqual([{ user: 'U0ONCALL01', action: 'restart_app' }]);

    // The thread pane opens from the reply count.
    await updated.locator('.replies-bar').click();
    await page.locator('#thread-messages', { hasText: 'systemctl is-active qnwis' }).waitFor();
    await expect(page.locator('#thread-messages pre.mrkdwn-pre').textContent()).resolves.toBe(
      'ERROR bind: address already in use',
    );

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('shows "/qnwis failed with the error …" when the bot cannot be reached', async () => {
    slack.setBotUrl('http://127.0.0.1:9/slack/events');
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await page.goto(`${slack.url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.fill('#composer-input', '/qnwis status');
      await page.press('#composer-input', 'Enter');
      const failed = await messageWithText(page, '/qnwis failed with the error "dispatch_failed"');
      await expect(failed.locator('.name').textContent()).resolves.toBe('Slackbot');
      await expect(failed.locator('.ephemeral-note').isVisible()).resolves.toBe(true);
    } finally {
      slack.setBotUrl(botUrl);
      await page.close();
    }
  });
});
