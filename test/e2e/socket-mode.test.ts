/**
 * The same Slack flows over both transports, through the real bot (src/main.ts `run`) and the
 * Slack stand-in, against the lab: once over HTTP (signed POSTs to `/slack/events`) and once with
 * SLACK_APP_TOKEN set (Socket Mode: the bot dials the stand-in's WebSocket; `/slack/events` is not
 * served, the webhooks still are). `/qnwis help` (answered in the ack), `/qnwis status` (acked,
 * then answered through response_url), and an approval message's buttons (an outsider refused, a
 * reject that ends the request). What people see must not depend on the transport.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  notification,
  postAlertmanager,
  type SlackMessageView,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';

const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01'; // L1
const SRE = 'U0SRE00001'; // L2
const OUTSIDER = 'U0OUTSIDE1';
/** Any app-level token: the stand-in accepts every `xapp-…` unless given a token list. */
const APP_TOKEN = 'xapp-1-A0QNWISAPP-1-e2esocketmode';

type Transport = 'http' | 'socket_mode';

interface Delivery {
  status: number | null;
  body: { response_type?: string; text?: string; blocks?: unknown[] } | string | null;
  error?: string;
  transport?: Transport;
}

interface Message extends SlackMessageView {
  user: string;
  ephemeral_user?: string;
}

/** What a person saw in each run, with ids that differ between runs replaced. */
const seen: Record<Transport, Record<string, unknown>> = { http: {}, socket_mode: {} };

function normalize(text: string): string {
  return text
    .replace(/R-[A-Z0-9]+/g, 'R-…')
    .replace(/ref `[^`]+`/g, 'ref `…`')
    .replace(/\d{2}:\d{2}(:\d{2})?( UTC)?/g, 'hh:mm');
}

describe.each<Transport>(['http', 'socket_mode'])('Slack over %s', (transport) => {
  let bot: TestBot;

  async function slash(user: string, text: string): Promise<Delivery> {
    const res = await fetch(`${bot.slack.url}/_local/command`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, channel: OPS, command: '/qnwis', text }),
    });
    return (await res.json()) as Delivery;
  }

  async function messages(): Promise<Message[]> {
    const res = await fetch(`${bot.slack.url}/_local/messages?channel=${OPS}&include_ephemeral=1`);
    return (await res.json()) as Message[];
  }

  async function click(user: string, m: Message, actionId: string): Promise<Delivery> {
    const block = (
      m.blocks as { type: string; block_id?: string; elements?: { action_id: string }[] }[]
    ).find((b) => b.type === 'actions' && b.elements?.some((e) => e.action_id === actionId));
    const res = await fetch(`${bot.slack.url}/_local/action`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, channel: OPS, ts: m.ts, action_id: actionId, block_id: block?.block_id }),
    });
    return (await res.json()) as Delivery;
  }

  beforeAll(async () => {
    bot = await startTestBot({
      fleet: true,
      env: transport === 'socket_mode' ? { SLACK_APP_TOKEN: APP_TOKEN } : {},
    });
  }, 60_000);

  afterAll(async () => {
    await bot?.stop();
  });

  it(
    transport === 'socket_mode' ? 'dials the stand-in over Socket Mode' : 'has no Socket Mode connection',
    async () => {
      const info = (await (await fetch(`${bot.slack.url}/_local/socket-mode`)).json()) as {
        connected: boolean;
        connections: unknown[];
      };
      expect(info.connected).toBe(transport === 'socket_mode');
      expect(info.connections).toHaveLength(transport === 'socket_mode' ? 1 : 0);
      // Slack's Request URL is served only over HTTP; health always.
      const events = await fetch(`${bot.url}/slack/events`, { method: 'POST', body: 'x' });
      expect(events.status === 404).toBe(transport === 'socket_mode');
      expect((await fetch(`${bot.url}/health`)).status).toBe(200);
    },
  );

  it('/qnwis help answers at once, only to the person who asked', async () => {
    const delivery = await slash(ONCALL, 'help');
    expect(delivery).toMatchObject({ status: 200, transport });
    expect(delivery.error).toBeUndefined();
    const shown = await eventually('the help answer', async () =>
      (await messages()).find(
        (m) => m.ephemeral_user === ONCALL && JSON.stringify(m.blocks).includes('/qnwis'),
      ),
    );
    expect(shown.user).toBe('U0QNWISBOT');
    expect(JSON.stringify(shown.blocks)).toContain('/qnwis status');
    // block_ids are the stand-in's when the bot sets none: random per message, as on Slack.
    seen[transport].help = normalize(JSON.stringify(shown).replace(/"(block_id|ts)":"[^"]*"/g, '"$1":"…"'));
  });

  it('/qnwis status is acknowledged, then the report of the real fleet follows', async () => {
    const delivery = await slash(ONCALL, 'status');
    expect(delivery).toMatchObject({ status: 200, transport });
    const report = await eventually(
      'the status report',
      async () => (await messages()).find((m) => /^QNWIS status \(lab\): \d\/3 app hosts ok/.test(m.text)),
      60_000,
    );
    const blocks = JSON.stringify(report.blocks);
    for (const host of ['app-01', 'app-02', 'app-03', 'db-primary', 'redis-01'])
      expect(blocks).toContain(`*${host}*`);
    seen[transport].status = {
      ack: typeof delivery.body === 'object' && delivery.body ? delivery.body.response_type : delivery.body,
      reportBlockTypes: (report.blocks as { type: string }[]).map((b) => b.type),
    };
  });

  it('approval buttons: an outsider is refused privately, a reject ends the request and nothing runs', async () => {
    await slash(ONCALL, 'restart app-02');
    const requestId = await eventually('the request', async () => {
      const res = await bot.db.query('SELECT id FROM command_requests ORDER BY requested_at DESC LIMIT 1');
      return res.rows[0]?.id as string | undefined;
    });
    const approval = await eventually('the approval message', async () =>
      (await messages()).find(
        (m) => !m.ephemeral_user && JSON.stringify(m.blocks ?? []).includes(`Request ${requestId}`),
      ),
    );

    expect(await click(OUTSIDER, approval, 'request.approve')).toMatchObject({ status: 200, transport });
    const refusal = await eventually('the refusal', async () =>
      (await messages()).find(
        (m) => m.ephemeral_user === OUTSIDER && m.text.includes('outsiders cannot approve'),
      ),
    );

    expect(await click(SRE, approval, 'request.reject')).toMatchObject({ status: 200, transport });
    const answer = await eventually('the reject answer', async () =>
      (await messages()).find((m) => m.ephemeral_user === SRE && m.text.includes(requestId)),
    );
    expect(answer.text).toBe(`Rejected ${requestId}; nothing will run.`);
    const state = await bot.db.query('SELECT state FROM command_requests WHERE id = $1', [requestId]);
    expect(state.rows[0]?.state).toBe('rejected');
    const updated = await eventually('the approval message to show the rejection', async () => {
      const m = (await messages()).find((x) => x.ts === approval.ts);
      return m && JSON.stringify(m.blocks).includes('Rejected') ? m : undefined;
    });
    expect(JSON.stringify(updated.blocks)).not.toContain('request.approve');
    seen[transport].buttons = {
      refusal: normalize(refusal.text),
      answer: normalize(answer.text),
      updatedText: normalize(updated.text),
    };
  });

  it('Alertmanager webhooks still arrive over HTTP and post the incident', async () => {
    const posted = await postAlertmanager(
      bot,
      notification('QueryLatencyHigh', { labels: { severity: 'warning', service: 'qnwis' } }),
    );
    expect(posted.status).toBe(200);
    await eventually('the incident message', async () =>
      (await slackMessages(bot, 'qnwis-alerts')).find((m) => m.text.startsWith('SEV-3 QueryLatencyHigh')),
    );
  });
});

describe('both transports', () => {
  it('showed people the same thing', () => {
    expect(Object.keys(seen.socket_mode)).toEqual(['help', 'status', 'buttons']);
    expect(seen.socket_mode).toEqual(seen.http);
  });
});
