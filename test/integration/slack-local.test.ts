/**
 * The local Slack stand-in against the real clients: a Bolt `App` (HTTPReceiver on loopback) and
 * `@slack/web-api`'s WebClient, both pointed at the stand-in with `slackApiUrl`. Nothing is mocked.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { type WebAPIPlatformError, WebClient, WebClientEvent } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendSignedForm, slashCommandForm } from '../../src/dev/slack/outbound.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';

const SECRET = 'integration-signing-secret-0123456789';
const TOKEN = 'xoxb-local-integration-token';
const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01';

interface InspectedMessage {
  channel: string;
  ts: string;
  thread_ts: string | null;
  user: string;
  text: string;
  blocks: Record<string, unknown>[];
  edited: { user: string; ts: string } | null;
  files: { id: string; name: string; mimetype: string; size: number; url_private: string }[];
  reply_count: number;
  subtype: string | null;
  ephemeral_user?: string;
}

interface DeliveryResult {
  status: number | null;
  body: unknown;
  error?: string;
}

let slack: SlackLocal;
let app: App;
let botServer: Server;
let botUrl: string;
/** What the Bolt listeners saw, newest last. */
const seen = {
  commands: [] as Record<string, unknown>[],
  actions: [] as Record<string, unknown>[],
  views: [] as Record<string, unknown>[],
  responseUrls: [] as string[],
};

async function local<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${slack.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as T;
}

const messages = (channel: string, ephemeral = false) =>
  local<InspectedMessage[]>(
    `/_local/messages?channel=${encodeURIComponent(channel)}${ephemeral ? '&include_ephemeral=1' : ''}`,
  );

async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function platformError(err: unknown): WebAPIPlatformError {
  expect(err).toMatchObject({ code: 'slack_webapi_platform_error' });
  return err as WebAPIPlatformError;
}

const statusBlocks = [
  { type: 'header', text: { type: 'plain_text', text: 'QNWIS status' } },
  { type: 'section', text: { type: 'mrkdwn', text: '*app-01* is _degraded_' } },
  {
    type: 'actions',
    block_id: 'status_actions',
    elements: [
      {
        type: 'button',
        action_id: 'restart',
        text: { type: 'plain_text', text: 'Restart app-01' },
        value: 'app-01',
        style: 'danger',
      },
    ],
  },
];

beforeAll(async () => {
  slack = await startSlackLocal({ signingSecret: SECRET, port: 0, rateLimit: { enabled: false } });
  app = new App({
    token: TOKEN,
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
  });
  app.command('/qnwis', async ({ command, ack, respond, say, client }) => {
    seen.commands.push({ ...command });
    seen.responseUrls.push(command.response_url);
    if (command.text === 'immediate') {
      await ack({ response_type: 'ephemeral', text: 'Acknowledged in the HTTP answer' });
      return;
    }
    if (command.text === 'slow') {
      // Never acknowledged in time: Slack (and Bolt's own 3001 ms guard) give up.
      await new Promise((r) => setTimeout(r, 3200));
      return;
    }
    await ack();
    if (command.text === 'modal') {
      await client.views.open({
        trigger_id: command.trigger_id,
        view: {
          type: 'modal',
          callback_id: 'approve',
          title: { type: 'plain_text', text: 'Approve restart' },
          submit: { type: 'plain_text', text: 'Approve' },
          private_metadata: 'app-01',
          blocks: [
            {
              type: 'input',
              block_id: 'reason',
              label: { type: 'plain_text', text: 'Reason' },
              element: { type: 'plain_text_input', action_id: 'text' },
            },
          ],
        },
      });
      return;
    }
    await say({ text: 'QNWIS status', blocks: statusBlocks });
    await respond({ response_type: 'ephemeral', text: `Only <@${command.user_id}> sees this` });
  });
  app.action('restart', async ({ ack, body, client, respond }) => {
    await ack();
    seen.actions.push(body as unknown as Record<string, unknown>);
    if (body.type !== 'block_actions' || !body.channel || !body.message) return;
    await client.chat.update({
      channel: body.channel.id,
      ts: body.message.ts,
      text: 'Restart approved',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `Restart approved by <@${body.user.id}>` } }],
    });
    await respond({ response_type: 'ephemeral', text: 'Restart queued', replace_original: false });
  });
  app.view('approve', async ({ ack, view, body }) => {
    seen.views.push(body as unknown as Record<string, unknown>);
    const reason = view.state.values.reason?.text?.value ?? '';
    if (reason.length < 5) await ack({ response_action: 'errors', errors: { reason: 'Say a bit more' } });
    else await ack();
  });
  botServer = await app.start({ port: 0, host: '127.0.0.1' });
  botUrl = `http://127.0.0.1:${(botServer.address() as AddressInfo).port}/slack/events`;
  slack.setBotUrl(botUrl);
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
});

beforeEach(async () => {
  await local('/_local/reset', {});
  slack.setBotUrl(botUrl);
  slack.limiter.configure({ enabled: false });
  for (const list of Object.values(seen)) list.length = 0;
});

describe('Web API with a Bolt app', () => {
  it('posts, threads, updates and deletes messages that the inspection API shows', async () => {
    const client = app.client;
    const auth = await client.auth.test();
    expect(auth).toMatchObject({
      ok: true,
      team_id: 'T0QNWISLAB',
      user_id: 'U0QNWISBOT',
      bot_id: 'B0QNWISBOT',
    });

    const parent = await client.chat.postMessage({
      channel: '#qnwis-ops',
      text: 'Alert: *QnwisDown* on app-01',
    });
    expect(parent).toMatchObject({
      ok: true,
      channel: OPS,
      message: { text: 'Alert: *QnwisDown* on app-01' },
    });
    expect(parent.ts).toMatch(/^\d{10}\.\d{6}$/);
    const reply = await client.chat.postMessage({
      channel: OPS,
      thread_ts: parent.ts,
      text: 'Diagnostics running',
    });
    const broadcast = await client.chat.postMessage({
      channel: 'qnwis-ops',
      thread_ts: parent.ts as string,
      text: 'Escalated to SRE',
      reply_broadcast: true,
    });
    await client.chat.update({
      channel: OPS,
      ts: parent.ts as string,
      text: 'Alert: *QnwisDown* on app-01 (ack)',
    });
    const eph = await client.chat.postEphemeral({ channel: OPS, user: ONCALL, text: 'only for on-call' });
    expect(eph.message_ts).toMatch(/^\d{10}\.\d{6}$/);
    const link = await client.chat.getPermalink({ channel: OPS, message_ts: reply.ts as string });
    expect(link.permalink).toBe(
      `${slack.url}/archives/${OPS}/p${(reply.ts as string).replace('.', '')}?thread_ts=${parent.ts}&cid=${OPS}`,
    );

    const list = await messages('qnwis-ops');
    expect(list.map((m) => m.text)).toEqual([
      'Alert: *QnwisDown* on app-01 (ack)',
      'Diagnostics running',
      'Escalated to SRE',
    ]);
    expect(list[0]).toMatchObject({
      ts: parent.ts,
      thread_ts: parent.ts,
      reply_count: 2,
      user: 'U0QNWISBOT',
    });
    expect(list[0]?.edited).toMatchObject({ user: 'U0QNWISBOT' });
    expect(list[1]).toMatchObject({ ts: reply.ts, thread_ts: parent.ts, edited: null });
    expect(list[2]).toMatchObject({ ts: broadcast.ts, subtype: 'thread_broadcast' });
    const tss = list.map((m) => m.ts);
    expect([...tss].sort()).toEqual(tss);

    const withEphemeral = await messages(OPS, true);
    expect(withEphemeral.find((m) => m.ts === eph.message_ts)).toMatchObject({ ephemeral_user: ONCALL });

    const history = await client.conversations.replies({ channel: OPS, ts: parent.ts as string });
    expect(history.messages?.map((m) => m.ts)).toEqual([parent.ts, reply.ts, broadcast.ts]);

    await client.chat.delete({ channel: OPS, ts: reply.ts as string });
    expect((await messages(OPS)).map((m) => m.ts)).toEqual([parent.ts, broadcast.ts]);
  });

  it('answers users.info, usergroups.list and conversations.info like Slack', async () => {
    const info = await app.client.users.info({ user: ONCALL });
    expect(info.user).toMatchObject({
      id: ONCALL,
      name: 'oncall',
      profile: { email: 'oncall@qnwis.lab', real_name: 'Omar Haddad' },
    });
    const groups = await app.client.usergroups.list({ include_users: true });
    expect(groups.usergroups?.find((g) => g.handle === 'qnwis-sre')?.users).toEqual(['U0SRE00001']);
    const channel = await app.client.conversations.info({ channel: OPS });
    expect(channel.channel).toMatchObject({ id: OPS, name: 'qnwis-ops', is_channel: true });
    const byEmail = await app.client.users.lookupByEmail({ email: 'manager@qnwis.lab' });
    expect(byEmail.user?.id).toBe('U0MANAGER1');
    const users =
      await local<{ id: string; name: string; email: string | null; role: string | null }[]>('/_local/users');
    expect(users.filter((u) => u.role).map((u) => [u.name, u.role])).toEqual([
      ['oncall', 'oncall'],
      ['sre', 'sre'],
      ['devlead', 'devlead'],
      ['manager', 'manager'],
    ]);
    expect(users.find((u) => u.name === 'outsider')).toMatchObject({
      role: null,
      email: 'outsider@qnwis.lab',
    });
    const channels = await local<{ id: string; name: string }[]>('/_local/channels');
    expect(channels.map((c) => c.name)).toEqual(['qnwis-ops', 'qnwis-db', 'qnwis-alerts', 'general']);
  });
});

describe('slash commands and interactions, signed like Slack', () => {
  it('delivers /qnwis to app.command with Slack fields; say() and respond() appear', async () => {
    const result = await local<DeliveryResult>('/_local/command', {
      user: 'oncall',
      channel: '#qnwis-ops',
      command: '/qnwis',
      text: 'status',
    });
    expect(result.status).toBe(200);
    expect(result.error).toBeUndefined();
    const command = await eventually(() => seen.commands[0]);
    expect(command).toMatchObject({
      command: '/qnwis',
      text: 'status',
      user_id: ONCALL,
      user_name: 'oncall',
      channel_id: OPS,
      channel_name: 'qnwis-ops',
      team_id: 'T0QNWISLAB',
      team_domain: 'qnwis-lab',
      api_app_id: 'A0QNWISAPP',
      is_enterprise_install: 'false',
    });
    expect(command.response_url).toMatch(new RegExp(`^${slack.url}/_local/response/`));
    expect(command.trigger_id).toMatch(/^\d+\.\d+\.[0-9a-f]{32}$/);

    const shown = await eventually(async () => {
      const list = await messages(OPS, true);
      return list.length >= 2 ? list : undefined;
    });
    const status = shown.find((m) => m.text === 'QNWIS status');
    expect(status?.blocks.map((b) => b.type)).toEqual(['header', 'section', 'actions']);
    expect(status?.blocks.every((b) => typeof b.block_id === 'string')).toBe(true);
    expect(shown.find((m) => m.ephemeral_user === ONCALL)?.text).toBe(`Only <@${ONCALL}> sees this`);
    expect((await messages(OPS)).some((m) => m.ephemeral_user)).toBe(false);
  });

  it("shows an immediate ack body as an ephemeral message, and 'failed with the error' when the bot is slow", async () => {
    await local('/_local/command', { user: ONCALL, channel: OPS, command: '/qnwis', text: 'immediate' });
    const eph = await messages(OPS, true);
    expect(eph).toEqual([
      expect.objectContaining({ text: 'Acknowledged in the HTTP answer', ephemeral_user: ONCALL }),
    ]);

    const slow = await local<DeliveryResult>('/_local/command', {
      user: ONCALL,
      channel: OPS,
      command: '/qnwis',
      text: 'slow',
    });
    // Slack gives up after 3 s; Bolt's own 3001 ms guard may answer 404 first.
    expect(['operation_timeout', 'http_client_error']).toContain(slow.error);
    const after = await messages(OPS, true);
    expect(after.at(-1)).toMatchObject({ user: 'USLACKBOT', ephemeral_user: ONCALL });
    expect(after.at(-1)?.text).toMatch(
      /^\/qnwis failed with the error "(operation_timeout|http_client_error)"$/,
    );

    slack.setBotUrl('http://127.0.0.1:9/slack/events');
    const down = await local<DeliveryResult>('/_local/command', {
      user: ONCALL,
      channel: OPS,
      command: '/qnwis',
      text: '',
    });
    expect(down).toMatchObject({ status: null, error: 'dispatch_failed' });
    const deliveries = await local<{ kind: string; error?: string }[]>('/_local/deliveries');
    expect(deliveries.map((d) => d.error ?? 'ok')).toEqual(['ok', slow.error, 'dispatch_failed']);
  }, 15_000);

  it('delivers a button click as block_actions to app.action; the update shows', async () => {
    await local('/_local/command', { user: ONCALL, channel: OPS, command: '/qnwis', text: 'status' });
    const status = await eventually(async () => (await messages(OPS)).find((m) => m.text === 'QNWIS status'));

    const click = await local<DeliveryResult>('/_local/action', {
      user: 'sre',
      channel: 'qnwis-ops',
      ts: status.ts,
      action_id: 'restart',
    });
    expect(click).toMatchObject({ status: 200 });
    const body = await eventually(() => seen.actions[0]);
    expect(body).toMatchObject({
      type: 'block_actions',
      user: { id: 'U0SRE00001', username: 'sre', team_id: 'T0QNWISLAB' },
      api_app_id: 'A0QNWISAPP',
      container: { type: 'message', message_ts: status.ts, channel_id: OPS, is_ephemeral: false },
      channel: { id: OPS, name: 'qnwis-ops' },
      team: { id: 'T0QNWISLAB', domain: 'qnwis-lab' },
      message: { ts: status.ts, text: 'QNWIS status', blocks: status.blocks },
      actions: [
        {
          action_id: 'restart',
          block_id: 'status_actions',
          value: 'app-01',
          type: 'button',
          style: 'danger',
          text: { type: 'plain_text', text: 'Restart app-01' },
        },
      ],
      state: { values: {} },
    });
    expect((body.actions as { action_ts: string }[])[0]?.action_ts).toMatch(/^\d{10}\.\d{6}$/);

    const updated = await eventually(async () => {
      const m = (await messages(OPS, true)).find((x) => x.ts === status.ts);
      return m?.text === 'Restart approved' ? m : undefined;
    });
    expect(updated.edited).not.toBeNull();
    expect(updated.blocks[0]).toMatchObject({ text: { text: 'Restart approved by <@U0SRE00001>' } });
    await eventually(async () =>
      (await messages(OPS, true)).find(
        (m) => m.text === 'Restart queued' && m.ephemeral_user === 'U0SRE00001',
      ),
    );
  });

  it('opens a modal from a trigger_id and delivers view_submission with state.values', async () => {
    await local('/_local/command', { user: ONCALL, channel: OPS, command: '/qnwis', text: 'modal' });
    const views = await eventually(async () => {
      const open = await local<{ id: string; view: { callback_id: string } }[]>(
        `/_local/views?user=${ONCALL}`,
      );
      return open.length ? open : undefined;
    });
    const viewId = views[0]?.id;
    expect(views[0]?.view.callback_id).toBe('approve');

    const empty = await local<{ errors?: Record<string, string>; status: number | null }>(
      '/_local/view/submit',
      {
        user: ONCALL,
        view_id: viewId,
        values: {},
      },
    );
    expect(empty).toMatchObject({ status: null, errors: { reason: expect.any(String) } });
    expect(seen.views).toHaveLength(0);

    const short = await local<{ errors?: Record<string, string>; view_closed: boolean }>(
      '/_local/view/submit',
      {
        user: ONCALL,
        view_id: viewId,
        values: { reason: { text: 'hm' } },
      },
    );
    expect(short).toMatchObject({ view_closed: false, errors: { reason: 'Say a bit more' } });

    const ok = await local<{ view_closed: boolean; status: number }>('/_local/view/submit', {
      user: ONCALL,
      view_id: viewId,
      values: { reason: { text: 'app-01 is down for 5 min' } },
    });
    expect(ok).toMatchObject({ status: 200, view_closed: true });
    expect(seen.views[1]).toMatchObject({
      type: 'view_submission',
      user: { id: ONCALL },
      view: {
        id: viewId,
        callback_id: 'approve',
        private_metadata: 'app-01',
        state: {
          values: { reason: { text: { type: 'plain_text_input', value: 'app-01 is down for 5 min' } } },
        },
      },
    });
    expect(await local(`/_local/views?user=${ONCALL}`)).toEqual([]);
  });

  it('serves response_url up to 5 times, then used_url', async () => {
    await local('/_local/command', { user: ONCALL, channel: OPS, command: '/qnwis', text: 'immediate' });
    const url = await eventually(() => seen.responseUrls[0]);
    const post = (body: unknown) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (let i = 0; i < 5; i++) {
      const res = await post({ text: `update ${i}`, response_type: i === 0 ? 'in_channel' : 'ephemeral' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
    const sixth = await post({ text: 'too many' });
    expect(sixth.status).toBe(404);
    expect(await sixth.json()).toEqual({ ok: false, error: 'used_url' });
    expect((await messages(OPS)).map((m) => m.text)).toEqual(['update 0']);
  });

  it('Bolt rejects a tampered signature and a 6-minute-old timestamp (401)', async () => {
    const form = slashCommandForm({
      verificationToken: 'x',
      team: { id: 'T0QNWISLAB', domain: 'qnwis-lab' },
      channel: { id: OPS, name: 'qnwis-ops' },
      user: { id: ONCALL, name: 'oncall' },
      command: '/qnwis',
      text: 'immediate',
      apiAppId: 'A0QNWISAPP',
      responseUrl: `${slack.url}/_local/response/none`,
      triggerId: '1.2.3',
    });
    const now = Math.floor(Date.now() / 1000);
    const good = await sendSignedForm(botUrl, form, { signingSecret: SECRET, timestampSec: now });
    expect(good.status).toBe(200);
    const tampered = await sendSignedForm(botUrl, form, {
      signingSecret: 'not-the-secret',
      timestampSec: now,
    });
    expect(tampered.status).toBe(401);
    const stale = await sendSignedForm(botUrl, form, { signingSecret: SECRET, timestampSec: now - 6 * 60 });
    expect(stale.status).toBe(401);
    expect(seen.commands).toHaveLength(1);
  });
});

describe('WebClient against the stand-in', () => {
  it('gets 429 + Retry-After when posting 10 messages at once, then delivers all 10 in order', async () => {
    slack.limiter.configure({ enabled: true, perSecond: 1, burst: 3 });
    const probe = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl });
    const rateLimited: number[] = [];
    const client = new WebClient(TOKEN, {
      slackApiUrl: slack.apiUrl,
      // Deliberate: enough retries for the backlog, a short fixed pause on top of Retry-After.
      retryConfig: { retries: 12, factor: 1, minTimeout: 50, maxTimeout: 50, randomize: false },
    });
    client.on(WebClientEvent.RATE_LIMITED, (retryAfterSec: number) => rateLimited.push(retryAfterSec));

    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        client.chat.postMessage({ channel: '#qnwis-alerts', text: `alert ${i}` }),
      ),
    );
    const elapsed = Date.now() - started;
    expect(results.every((r) => r.ok)).toBe(true);
    expect(rateLimited.length).toBeGreaterThanOrEqual(7);
    expect(rateLimited.every((s) => Number.isInteger(s) && s >= 1)).toBe(true);
    expect(elapsed).toBeGreaterThan(5000);
    const list = await messages('qnwis-alerts');
    expect(list.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `alert ${i}`));

    // The raw answer, exactly as Slack sends it.
    for (let i = 0; i < 3; i++) await probe.chat.postMessage({ channel: 'general', text: `fill ${i}` });
    const raw = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ channel: 'general', text: 'one too many' }),
    });
    expect(raw.status).toBe(429);
    expect(Number(raw.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await raw.json()).toEqual({ ok: false, error: 'ratelimited' });
  }, 30_000);

  it('refuses 51 blocks and a 3001-character section with invalid_blocks (a platform error)', async () => {
    const client = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const tooMany = await client.chat
      .postMessage({
        channel: OPS,
        text: 'x',
        blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })),
      })
      .catch((e: unknown) => e);
    const e1 = platformError(tooMany);
    expect(e1.data.error).toBe('invalid_blocks');
    expect(e1.data.response_metadata?.messages).toEqual([
      '[ERROR] no more than 50 items allowed [json-pointer:/blocks]',
    ]);

    const tooLong = await client.chat
      .postMessage({
        channel: OPS,
        text: 'x',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'y'.repeat(3001) } }],
      })
      .catch((e: unknown) => e);
    expect(platformError(tooLong).data.error).toBe('invalid_blocks');
    expect(platformError(tooLong).data.response_metadata?.messages?.[0]).toContain(
      '[json-pointer:/blocks/0/text/text]',
    );

    const longText = await client.chat
      .postMessage({ channel: OPS, text: 'z'.repeat(40_001) })
      .catch((e: unknown) => e);
    expect(platformError(longText).data.error).toBe('msg_too_long');
    const noText = await client.chat.postMessage({ channel: OPS, text: '' }).catch((e: unknown) => e);
    expect(platformError(noText).data.error).toBe('no_text');
    expect(await messages(OPS)).toEqual([]);
  });

  it('uploads a file with files.uploadV2 and shares it into the channel and thread', async () => {
    const client = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    const parent = await client.chat.postMessage({ channel: OPS, text: 'Diagnostics' });
    const content = 'ERROR connection refused\nWARN retrying\n';
    const upload = await client.filesUploadV2({
      channel_id: OPS,
      thread_ts: parent.ts as string,
      filename: 'app-01.log',
      content,
      title: 'app-01 journal',
      initial_comment: 'Last 2 lines of the journal',
    });
    expect(upload.ok).toBe(true);
    const list = await messages(OPS);
    const shared = list.find((m) => m.files.length > 0);
    expect(shared).toMatchObject({ thread_ts: parent.ts, text: 'Last 2 lines of the journal' });
    expect(shared?.files[0]).toMatchObject({
      name: 'app-01.log',
      mimetype: 'text/plain',
      size: Buffer.byteLength(content),
    });
    const file = await fetch(shared?.files[0]?.url_private ?? '');
    expect(await file.text()).toBe(content);

    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
      'base64',
    );
    await client.filesUploadV2({ channel_id: OPS, file: png, filename: 'graph.png' });
    const image = (await messages(OPS)).at(-1)?.files[0];
    expect(image).toMatchObject({ name: 'graph.png', mimetype: 'image/png', size: png.length });
  });

  it('answers unknown_method, invalid_auth, not_authed, channel_not_found and message_not_found', async () => {
    const client = new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    expect(platformError(await client.apiCall('foo.bar').catch((e: unknown) => e)).data).toMatchObject({
      ok: false,
      error: 'unknown_method',
    });
    const bad = new WebClient('not-a-slack-token', {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 0 },
    });
    expect(platformError(await bad.auth.test().catch((e: unknown) => e)).data.error).toBe('invalid_auth');
    const anonymous = await fetch(`${slack.apiUrl}auth.test`, { method: 'POST' });
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toMatchObject({ ok: false, error: 'not_authed' });
    expect(
      platformError(await client.chat.postMessage({ channel: '#nope', text: 'x' }).catch((e: unknown) => e))
        .data.error,
    ).toBe('channel_not_found');
    expect(
      platformError(
        await client.chat.update({ channel: OPS, ts: '1.000000', text: 'x' }).catch((e: unknown) => e),
      ).data.error,
    ).toBe('message_not_found');
    // JSON bodies work too (with the token in the header, as Slack requires).
    const json = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: OPS, text: 'from JSON', blocks: [{ type: 'divider' }] }),
    });
    expect(await json.json()).toMatchObject({ ok: true, channel: OPS, message: { text: 'from JSON' } });
  });

  it('accepts only the configured tokens when a token list is set', async () => {
    const strict = await startSlackLocal({ signingSecret: SECRET, port: 0, tokens: ['xoxb-the-one'] });
    try {
      const ok = new WebClient('xoxb-the-one', { slackApiUrl: strict.apiUrl, retryConfig: { retries: 0 } });
      expect((await ok.auth.test()).ok).toBe(true);
      const other = new WebClient('xoxb-another', {
        slackApiUrl: strict.apiUrl,
        retryConfig: { retries: 0 },
      });
      expect(platformError(await other.auth.test().catch((e: unknown) => e)).data.error).toBe('invalid_auth');
    } finally {
      await strict.close();
    }
  });
});
