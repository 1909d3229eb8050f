/**
 * The Slack stand-in's Socket Mode against a raw `ws` client (the wire protocol, byte for byte:
 * `apps.connections.open`, `hello`, envelopes, acks, `disconnect`, pings) and against the real
 * clients: @slack/socket-mode's SocketModeClient and a Bolt App with `socketMode: true` pointed at
 * the stand-in with `clientOptions.slackApiUrl`. Nothing is mocked.
 */
import { App, LogLevel } from '@slack/bolt';
import { SocketModeClient } from '@slack/socket-mode';
import { type WebAPIPlatformError, WebClient } from '@slack/web-api';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/server.js';

const SECRET = 'socket-mode-signing-secret-0123456789';
const APP_TOKEN = 'xapp-1-A0QNWISAPP-1-socketmodetest';
const BOT_TOKEN = 'xoxb-socket-mode-test';
const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01';
/** Short, so the "no ack in time" cases do not wait Slack's full 3 s. */
const ACK_TIMEOUT_MS = 600;

interface Delivery {
  status: number | null;
  body: unknown;
  error?: string;
  transport?: string;
}

interface Message {
  ts: string;
  user: string;
  text: string;
  blocks: Record<string, unknown>[];
  ephemeral_user?: string;
}

interface Envelope {
  envelope_id: string;
  type: string;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
}

let slack: SlackLocal;
const sockets: WebSocket[] = [];

async function local<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${slack.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as T;
}

const messages = () => local<Message[]>(`/_local/messages?channel=${OPS}&include_ephemeral=1`);
const command = (text: string) =>
  local<Delivery>('/_local/command', { user: ONCALL, channel: OPS, command: '/qnwis', text });

async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function openUrl(token = APP_TOKEN): Promise<string> {
  const res = await new WebClient(token, { slackApiUrl: slack.apiUrl }).apps.connections.open();
  return String(res.url);
}

/** A raw WebSocket client that keeps every message it gets, in order. */
async function rawClient(opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(await openUrl(), { autoPong: opts.autoPong ?? true });
  sockets.push(ws);
  const received: Record<string, unknown>[] = [];
  ws.on('message', (data) => received.push(JSON.parse(String(data)) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await eventually(() => received.length > 0);
  const envelopes = () => received.filter((m): m is Record<string, unknown> & Envelope => 'envelope_id' in m);
  return { ws, received, envelopes, closed };
}

/** What a refused handshake answers (ws reports the HTTP status of a non-101 response). */
function handshakeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake was accepted'));
    });
    ws.once('error', () => undefined);
  });
}

function platformError(err: unknown): WebAPIPlatformError {
  expect(err).toMatchObject({ code: 'slack_webapi_platform_error' });
  return err as WebAPIPlatformError;
}

beforeAll(async () => {
  slack = await startSlackLocal({
    signingSecret: SECRET,
    port: 0,
    rateLimit: { enabled: false },
    botTimeoutMs: ACK_TIMEOUT_MS,
    socketPingIntervalMs: 200,
    // No bot listens here: an HTTP delivery is refused (dispatch_failed), so any delivery that
    // should have gone over the socket but did not is visible.
    botUrl: 'http://127.0.0.1:9/slack/events',
  });
});

afterAll(async () => {
  await slack?.close();
});

beforeEach(async () => {
  await local('/_local/reset', {});
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await eventually(() => !slack.socketMode.connected());
});

describe('apps.connections.open', () => {
  it('hands an app-level token a one-use ws:// URL on the stand-in; other tokens get Slack errors', async () => {
    const url = new URL(await openUrl());
    expect(url.protocol).toBe('ws:');
    expect(url.host).toBe(new URL(slack.url).host);
    expect(url.pathname).toBe('/link/');
    expect(url.searchParams.get('app_id')).toBe('A0QNWISAPP');
    expect(url.searchParams.get('ticket')).toMatch(/^[0-9a-f-]{36}$/);

    const asBot = await openUrl(BOT_TOKEN).catch((err: unknown) => platformError(err).data.error);
    expect(asBot).toBe('not_allowed_token_type');
    const raw = await fetch(`${slack.apiUrl}apps.connections.open`, { method: 'POST' });
    expect(await raw.json()).toEqual({ ok: false, error: 'not_authed' });
    // An app-level token is for Socket Mode only, as on Slack.
    const post = await new WebClient(APP_TOKEN, { slackApiUrl: slack.apiUrl }).chat
      .postMessage({ channel: OPS, text: 'hi' })
      .catch((err: unknown) => platformError(err).data.error);
    expect(post).toBe('not_allowed_token_type');
  });

  it('with a token list, only a listed app-level token opens a connection (invalid_auth otherwise)', async () => {
    const strict = await startSlackLocal({ signingSecret: SECRET, port: 0, tokens: [APP_TOKEN, BOT_TOKEN] });
    try {
      const open = (token: string) =>
        new WebClient(token, { slackApiUrl: strict.apiUrl }).apps.connections
          .open()
          .then((r) => String(r.url))
          .catch((err: unknown) => platformError(err).data.error);
      expect(await open('xapp-1-someone-else')).toBe('invalid_auth');
      expect(await open(BOT_TOKEN)).toBe('not_allowed_token_type');
      expect(await open(APP_TOKEN)).toMatch(/^ws:\/\//);
    } finally {
      await strict.close();
    }
  });

  it('refuses a URL used twice, a made-up ticket and another path before the handshake', async () => {
    const client = await rawClient();
    const used = client.ws.url;
    expect(await handshakeStatus(used)).toBe(401);
    expect(await handshakeStatus(used.replace(/ticket=[^&]+/, 'ticket=made-up'))).toBe(401);
    expect(await handshakeStatus(`${slack.url.replace('http', 'ws')}/api/`)).toBe(404);
  });
});

describe('the wire protocol with a raw WebSocket client', () => {
  it('says hello with the app id and the number of connections', async () => {
    const first = await rawClient();
    expect(first.received[0]).toEqual({
      type: 'hello',
      num_connections: 1,
      debug_info: { host: 'slack-local' },
      connection_info: { app_id: 'A0QNWISAPP' },
    });
    const second = await rawClient();
    expect(second.received[0]).toMatchObject({ type: 'hello', num_connections: 2 });
    const listed = await local<{ connected: boolean; connections: { app_id: string }[] }>(
      '/_local/socket-mode',
    );
    expect(listed.connected).toBe(true);
    expect(listed.connections).toHaveLength(2);
  });

  it('sends a slash command as a slash_commands envelope; the ack payload is the answer shown', async () => {
    const client = await rawClient();
    client.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Envelope;
      if (m.type !== 'slash_commands') return;
      client.ws.send(
        JSON.stringify({
          envelope_id: m.envelope_id,
          payload: { response_type: 'ephemeral', text: `You said ${String(m.payload.text)}` },
        }),
      );
    });
    const result = await command('status');
    expect(result).toEqual({
      status: 200,
      body: { response_type: 'ephemeral', text: 'You said status' },
      transport: 'socket_mode',
      delivery_id: expect.any(String),
    });
    const [envelope] = client.envelopes();
    expect(envelope).toMatchObject({
      type: 'slash_commands',
      accepts_response_payload: true,
      envelope_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      payload: {
        command: '/qnwis',
        text: 'status',
        user_id: ONCALL,
        user_name: 'oncall',
        channel_id: OPS,
        channel_name: 'qnwis-ops',
        team_id: 'T0QNWISLAB',
        api_app_id: 'A0QNWISAPP',
        is_enterprise_install: 'false',
      },
    });
    expect(envelope?.payload.response_url).toMatch(new RegExp(`^${slack.url}/_local/response/`));
    expect(await messages()).toEqual([
      expect.objectContaining({ text: 'You said status', ephemeral_user: ONCALL }),
    ]);
    const deliveries = await local<{ transport: string; status: number }[]>('/_local/deliveries');
    expect(deliveries).toEqual([expect.objectContaining({ transport: 'socket_mode', status: 200 })]);
  });

  it('sends a button click as an interactive envelope that takes no response payload', async () => {
    const client = await rawClient();
    client.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Envelope;
      if (m.envelope_id) client.ws.send(JSON.stringify({ envelope_id: m.envelope_id }));
    });
    const web = new WebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl });
    const posted = await web.chat.postMessage({
      channel: OPS,
      text: 'Approve?',
      blocks: [
        {
          type: 'actions',
          block_id: 'approval',
          elements: [
            {
              type: 'button',
              action_id: 'approve',
              value: 'R-1',
              text: { type: 'plain_text', text: 'Approve' },
            },
          ],
        },
      ],
    });
    const result = await local<Delivery>('/_local/action', {
      user: 'sre',
      channel: OPS,
      ts: posted.ts,
      action_id: 'approve',
    });
    expect(result).toMatchObject({ status: 200, body: '', transport: 'socket_mode' });
    expect(client.envelopes()).toEqual([
      expect.objectContaining({
        type: 'interactive',
        accepts_response_payload: false,
        payload: expect.objectContaining({
          type: 'block_actions',
          user: expect.objectContaining({ id: 'U0SRE00001' }),
          actions: [expect.objectContaining({ action_id: 'approve', value: 'R-1', block_id: 'approval' })],
        }),
      }),
    ]);
  });

  it('an envelope not acknowledged in time fails as Slack shows it; the late ack is ignored', async () => {
    const client = await rawClient();
    const result = await command('slow');
    expect(result).toMatchObject({ status: null, error: 'operation_timeout', transport: 'socket_mode' });
    const shown = await messages();
    expect(shown.at(-1)).toMatchObject({
      user: 'USLACKBOT',
      ephemeral_user: ONCALL,
      text: '/qnwis failed with the error "operation_timeout"',
    });
    const [envelope] = client.envelopes();
    client.ws.send(JSON.stringify({ envelope_id: envelope?.envelope_id, payload: { text: 'too late' } }));
    await eventually(async () => {
      const info = await local<{ connections: { late_or_unknown_acks: number }[] }>('/_local/socket-mode');
      return info.connections[0]?.late_or_unknown_acks === 1;
    });
    expect((await messages()).some((m) => m.text === 'too late')).toBe(false);
  });

  it('a connection lost before the ack is dispatch_failed; with none left, deliveries go over HTTP', async () => {
    const client = await rawClient();
    client.ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as Envelope).type === 'slash_commands') client.ws.terminate();
    });
    const lost = await command('status');
    expect(lost).toMatchObject({ status: null, error: 'dispatch_failed', transport: 'socket_mode' });
    await eventually(() => !slack.socketMode.connected());
    const overHttp = await command('status');
    // The Request URL has no bot behind it: refused, and it says so.
    expect(overHttp).toMatchObject({ status: null, error: 'dispatch_failed', transport: 'http' });
  });

  it('asks the app to reconnect with disconnect, and closes the connection if the app does not', async () => {
    const client = await rawClient();
    const res = await local<{ ok: boolean; connections: number }>('/_local/socket-mode/disconnect', {
      reason: 'refresh_requested',
    });
    expect(res).toEqual({ ok: true, reason: 'refresh_requested', connections: 1 });
    expect(await client.closed).toBe(1006);
    expect(client.received.at(-1)).toEqual({
      type: 'disconnect',
      reason: 'refresh_requested',
      debug_info: { host: 'slack-local' },
    });
    const bad = await fetch(`${slack.url}/_local/socket-mode/disconnect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'because' }),
    });
    expect(bad.status).toBe(400);
  });

  it('drops a connection that stops answering pings', async () => {
    const silent = await rawClient({ autoPong: false });
    const healthy = await rawClient();
    expect(await silent.closed).toBe(1006);
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
    await eventually(() => slack.socketMode.connections().length === 1);
  });

  it('spreads envelopes over the open connections', async () => {
    const clients = [await rawClient(), await rawClient()];
    for (const c of clients) {
      c.ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as Envelope;
        if (m.envelope_id) c.ws.send(JSON.stringify({ envelope_id: m.envelope_id }));
      });
    }
    for (let i = 0; i < 4; i += 1) expect((await command(`n${i}`)).status).toBe(200);
    expect(clients.map((c) => c.envelopes().length)).toEqual([2, 2]);
  });
});

describe('the real clients', () => {
  it("@slack/socket-mode's SocketModeClient connects, acks, and reconnects after refresh_requested", async () => {
    const client = new SocketModeClient({
      appToken: APP_TOKEN,
      clientOptions: { slackApiUrl: slack.apiUrl },
      // Reconnect after 1 s instead of 5 s.
      clientPingTimeout: 1000,
      logLevel: LogLevel.ERROR,
    });
    const seen: string[] = [];
    client.on(
      'slash_commands',
      async ({ ack, body }: { ack: (r?: unknown) => Promise<void>; body: { text: string } }) => {
        seen.push(body.text);
        await ack({ response_type: 'ephemeral', text: `socket-mode saw ${body.text}` });
      },
    );
    try {
      await client.start();
      expect(slack.socketMode.connections()).toHaveLength(1);
      expect(await command('one')).toMatchObject({ status: 200, transport: 'socket_mode' });
      const before = slack.socketMode.connections()[0]?.id;

      await local('/_local/socket-mode/disconnect', { reason: 'refresh_requested' });
      await eventually(() => {
        const now = slack.socketMode.connections();
        return now.length === 1 && now[0]?.id !== before;
      });
      expect(await command('two')).toMatchObject({ status: 200, transport: 'socket_mode' });
      expect(seen).toEqual(['one', 'two']);
      const shown = (await messages()).map((m) => m.text);
      expect(shown).toEqual(['socket-mode saw one', 'socket-mode saw two']);
      expect(slack.socketMode.urlsHandedOut).toBeGreaterThanOrEqual(2);
    } finally {
      await client.disconnect();
    }
  });

  it('a Bolt App with socketMode and clientOptions.slackApiUrl runs commands, buttons and modals', async () => {
    const log: string[] = [];
    const app = new App({
      token: BOT_TOKEN,
      appToken: APP_TOKEN,
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: slack.apiUrl },
    });
    app.command('/qnwis', async ({ command: cmd, ack, say, client }) => {
      if (cmd.text === 'modal') {
        await ack();
        await client.views.open({
          trigger_id: cmd.trigger_id,
          view: {
            type: 'modal',
            callback_id: 'reason',
            title: { type: 'plain_text', text: 'Why?' },
            submit: { type: 'plain_text', text: 'Send' },
            blocks: [
              {
                type: 'input',
                block_id: 'why',
                label: { type: 'plain_text', text: 'Reason' },
                element: { type: 'plain_text_input', action_id: 'text' },
              },
            ],
          },
        });
        return;
      }
      await ack({ response_type: 'ephemeral', text: 'On it' });
      await say({
        text: 'Restart app-01?',
        blocks: [
          {
            type: 'actions',
            block_id: 'b',
            elements: [
              { type: 'button', action_id: 'go', value: 'app-01', text: { type: 'plain_text', text: 'Go' } },
            ],
          },
        ],
      });
    });
    app.action('go', async ({ ack, respond, body }) => {
      await ack();
      log.push(`clicked by ${body.user.id}`);
      await respond({ response_type: 'ephemeral', replace_original: false, text: 'Restart queued' });
    });
    app.view('reason', async ({ ack, view }) => {
      const text = view.state.values.why?.text?.value ?? '';
      if (text.length < 5) await ack({ response_action: 'errors', errors: { why: 'Say a bit more' } });
      else await ack();
    });
    await app.start();
    try {
      expect(await command('status')).toMatchObject({
        status: 200,
        transport: 'socket_mode',
        body: { response_type: 'ephemeral', text: 'On it' },
      });
      const question = await eventually(async () =>
        (await messages()).find((m) => m.text === 'Restart app-01?'),
      );
      const click = await local<Delivery>('/_local/action', {
        user: 'sre',
        channel: OPS,
        ts: question.ts,
        action_id: 'go',
      });
      expect(click).toMatchObject({ status: 200, transport: 'socket_mode' });
      await eventually(async () => (await messages()).find((m) => m.text === 'Restart queued'));
      expect(log).toEqual(['clicked by U0SRE00001']);

      await command('modal');
      const views = await eventually(async () => {
        const list = await local<{ id: string }[]>(`/_local/views?user=${ONCALL}`);
        return list.length > 0 ? list : undefined;
      });
      const short = await local<{
        view_closed: boolean;
        errors?: Record<string, string>;
        transport?: string;
      }>('/_local/view/submit', { user: ONCALL, view_id: views[0]?.id, values: { why: { text: 'no' } } });
      expect(short).toMatchObject({
        view_closed: false,
        errors: { why: 'Say a bit more' },
        transport: 'socket_mode',
      });
      const ok = await local<{ view_closed: boolean }>('/_local/view/submit', {
        user: ONCALL,
        view_id: views[0]?.id,
        values: { why: { text: 'disk is full' } },
      });
      expect(ok.view_closed).toBe(true);
    } finally {
      await app.stop();
    }
  });
});
