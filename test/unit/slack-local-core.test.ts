import { describe, expect, it } from 'vitest';
import { buildAction, findElement, Interactions, viewState } from '../../src/dev/slack/interactions.js';
import { parseSlackLocalConfig, SlackLocalConfigError } from '../../src/dev/slack/main.js';
import { TokenBucketLimiter } from '../../src/dev/slack/rate-limit.js';
import { SlackStore } from '../../src/dev/slack/store.js';
import { silentLogger } from '../../src/observability/logger.js';

describe('per-channel rate limit (token bucket)', () => {
  it('lets a burst through, then refuses with consecutive Retry-After slots', () => {
    let now = 1_000_000;
    const limiter = new TokenBucketLimiter({ enabled: true, perSecond: 1, burst: 3 }, () => now);
    expect([limiter.take('C1'), limiter.take('C1'), limiter.take('C1')]).toEqual([
      { allowed: true },
      { allowed: true },
      { allowed: true },
    ]);
    expect(limiter.take('C1')).toEqual({ allowed: false, retryAfterSec: 1 });
    expect(limiter.take('C1')).toEqual({ allowed: false, retryAfterSec: 2 });
    expect(limiter.take('C2')).toEqual({ allowed: true });
    now += 1001;
    expect(limiter.take('C1')).toEqual({ allowed: true });
    now += 1000;
    expect(limiter.take('C1')).toEqual({ allowed: true });
    now += 60_000;
    expect([limiter.take('C1'), limiter.take('C1'), limiter.take('C1')].every((d) => d.allowed)).toBe(true);
  });

  it('can be switched off', () => {
    const limiter = new TokenBucketLimiter({ enabled: false, perSecond: 1, burst: 1 });
    for (let i = 0; i < 100; i++) expect(limiter.take('C1').allowed).toBe(true);
  });
});

describe('response_url lifetime', () => {
  function setup() {
    let now = Date.UTC(2025, 0, 1);
    const store = new SlackStore({ now: () => now });
    const interactions = new Interactions({
      store,
      signingSecret: 's',
      botUrl: () => 'http://127.0.0.1:9/slack/events',
      timeoutMs: 100,
      log: silentLogger,
    });
    const record = store.createResponseUrl({
      kind: 'slash_command',
      channel: 'C0QNWISOPS',
      user: 'U0ONCALL01',
    });
    return { store, interactions, record, advance: (ms: number) => (now += ms) };
  }

  it('expires after 30 minutes', () => {
    const { interactions, record, advance } = setup();
    expect(interactions.respond(record.id, { text: 'one' })).toEqual({ status: 200, body: { ok: true } });
    advance(30 * 60 * 1000 + 1);
    expect(interactions.respond(record.id, { text: 'late' })).toEqual({
      status: 404,
      body: { ok: false, error: 'expired_url' },
    });
  });

  it('posts ephemeral by default, in_channel on request, and refuses invalid blocks', () => {
    const { store, interactions, record } = setup();
    interactions.respond(record.id, { text: 'just you' });
    interactions.respond(record.id, { text: 'everyone', response_type: 'in_channel' });
    const bad = interactions.respond(record.id, {
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ ok: false, error: 'invalid_blocks' });
    const all = store.allMessages('C0QNWISOPS');
    expect(all.map((m) => [m.text, m.ephemeral_user ?? null])).toEqual([
      ['just you', 'U0ONCALL01'],
      ['everyone', null],
    ]);
  });

  it('replaces and deletes the original message of a block_actions response_url', () => {
    const { store, interactions } = setup();
    const message = store.addMessage({
      channel: 'C0QNWISOPS',
      user: store.bot.user_id,
      bot_id: store.bot.bot_id,
      text: 'Approve?',
      blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'OK' } }] }],
    });
    const action = store.createResponseUrl({
      kind: 'block_actions',
      channel: 'C0QNWISOPS',
      user: 'U0SRE00001',
      messageTs: message.ts,
    });
    expect(interactions.respond(action.id, { replace_original: true, text: 'Approved' }).status).toBe(200);
    expect(store.findMessage('C0QNWISOPS', message.ts)).toMatchObject({ text: 'Approved', ts: message.ts });
    expect(store.findMessage('C0QNWISOPS', message.ts)?.blocks).toBeUndefined();
    expect(interactions.respond(action.id, { delete_original: true }).status).toBe(200);
    expect(store.findMessage('C0QNWISOPS', message.ts)).toBeUndefined();
  });
});

describe('interaction payload helpers', () => {
  it('fills in block_id / action_id like Slack and finds the clicked element', () => {
    const store = new SlackStore();
    const message = store.addMessage({
      channel: 'C0QNWISOPS',
      user: store.bot.user_id,
      text: 't',
      blocks: [
        {
          type: 'actions',
          elements: [{ type: 'button', text: { type: 'plain_text', text: 'A' }, value: 'a' }],
        },
        {
          type: 'section',
          block_id: 'sel',
          text: { type: 'mrkdwn', text: 'pick' },
          accessory: {
            type: 'static_select',
            action_id: 'host',
            options: [
              { text: { type: 'plain_text', text: 'app-01' }, value: 'app-01' },
              { text: { type: 'plain_text', text: 'app-02' }, value: 'app-02' },
            ],
          },
        },
      ],
    });
    const generated = ((message.blocks?.[0]?.elements ?? []) as { action_id: string }[])[0]?.action_id;
    expect(generated).toMatch(/^[A-Za-z0-9]{5}$/);
    expect(typeof message.blocks?.[0]?.block_id).toBe('string');
    const found = findElement(message, 'host');
    expect(found?.blockId).toBe('sel');
    const { action, stateValues } = buildAction(found?.element ?? {}, 'sel', 'app-02', '1.000000');
    expect(action).toMatchObject({
      type: 'static_select',
      action_id: 'host',
      selected_option: { value: 'app-02' },
    });
    expect(stateValues).toEqual({
      sel: { host: { type: 'static_select', selected_option: action.selected_option } },
    });
  });

  it('builds view state.values and lists required inputs left empty', () => {
    const view = {
      blocks: [
        { type: 'input', block_id: 'why', element: { type: 'plain_text_input', action_id: 'v' } },
        {
          type: 'input',
          block_id: 'opt',
          optional: true,
          element: { type: 'plain_text_input', action_id: 'v' },
        },
      ],
    };
    expect(viewState(view, {})).toEqual({
      state: {
        why: { v: { type: 'plain_text_input', value: null } },
        opt: { v: { type: 'plain_text_input', value: null } },
      },
      missing: { why: 'Please complete this required field.' },
    });
  });
});

describe('slack-local CLI configuration (one zod schema)', () => {
  it('has loopback defaults and needs only the signing secret', () => {
    const config = parseSlackLocalConfig({ SLACK_SIGNING_SECRET: 'shh' }, []);
    expect(config).toMatchObject({
      SLACK_LOCAL_LISTEN: '127.0.0.1:3100',
      SLACK_LOCAL_BOT_URL: 'http://127.0.0.1:3000/slack/events',
      SLACK_LOCAL_TOKENS: [],
      SLACK_LOCAL_RATE_LIMIT: true,
      SLACK_LOCAL_RATE_PER_SEC: 1,
      SLACK_LOCAL_RATE_BURST: 3,
    });
  });

  it('lets flags override the environment', () => {
    const config = parseSlackLocalConfig({ SLACK_SIGNING_SECRET: 'env', SLACK_LOCAL_RATE_LIMIT: 'on' }, [
      '--signing-secret',
      'flag',
      '--rate-limit',
      'off',
      '--tokens',
      'xoxb-a, xoxb-b',
      '--listen',
      '127.0.0.1:0',
      '--rate',
      '2.5',
    ]);
    expect(config).toMatchObject({
      SLACK_SIGNING_SECRET: 'flag',
      SLACK_LOCAL_RATE_LIMIT: false,
      SLACK_LOCAL_TOKENS: ['xoxb-a', 'xoxb-b'],
      SLACK_LOCAL_LISTEN: '127.0.0.1:0',
      SLACK_LOCAL_RATE_PER_SEC: 2.5,
    });
  });

  it('explains a missing secret and bad values without echoing them', () => {
    const error = (() => {
      try {
        parseSlackLocalConfig({ SLACK_LOCAL_BOT_URL: 'ftp://secret-host', SLACK_LOCAL_RATE_BURST: '0' }, []);
      } catch (err) {
        return err;
      }
      throw new Error('expected a config error');
    })();
    expect(error).toBeInstanceOf(SlackLocalConfigError);
    const issues = (error as SlackLocalConfigError).issues;
    expect(issues.find((i) => i.startsWith('SLACK_SIGNING_SECRET (--signing-secret)'))).toContain(
      'is required',
    );
    expect(issues.some((i) => i.startsWith('SLACK_LOCAL_BOT_URL'))).toBe(true);
    expect(issues.some((i) => i.startsWith('SLACK_LOCAL_RATE_BURST'))).toBe(true);
    expect((error as Error).message).not.toContain('secret-host');
    expect(() => parseSlackLocalConfig({ SLACK_SIGNING_SECRET: 'x' }, ['--nope'])).toThrow(
      SlackLocalConfigError,
    );
  });
});
