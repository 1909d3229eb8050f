import { describe, expect, it } from 'vitest';
import {
  BLOCK_LIMITS,
  blocksTextLength,
  checkMessageContent,
  validateBlocks,
  validateView,
} from '../../src/dev/slack/blocks-validate.js';
import { createTsGenerator, formatTs, parseTs } from '../../src/dev/slack/ids.js';
import {
  isValidSlackSignature,
  signSlackRequest,
  slackSignatureHeaders,
} from '../../src/dev/slack/signing.js';

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (over: Record<string, unknown> = {}) => ({
  type: 'button',
  text: { type: 'plain_text', text: 'Go' },
  action_id: 'go',
  ...over,
});
const errorsOf = (blocks: unknown, surface: 'message' | 'modal' = 'message') => {
  const result = validateBlocks(blocks, surface);
  if (result.ok) throw new Error('expected the blocks to be refused');
  return result;
};

describe('Block Kit validation (Slack limits)', () => {
  it('accepts 50 blocks in a message and refuses 51 with a json-pointer to /blocks', () => {
    expect(validateBlocks(Array.from({ length: 50 }, () => ({ type: 'divider' })))).toEqual({ ok: true });
    const refused = errorsOf(Array.from({ length: 51 }, () => ({ type: 'divider' })));
    expect(refused.error).toBe('invalid_blocks');
    expect(refused.errors).toEqual(['no more than 50 items allowed [json-pointer:/blocks]']);
  });

  it('allows 100 blocks in a modal, not 101', () => {
    const blocks = (n: number) => Array.from({ length: n }, () => ({ type: 'divider' }));
    expect(validateBlocks(blocks(100), 'modal')).toEqual({ ok: true });
    expect(errorsOf(blocks(101), 'modal').errors[0]).toContain('no more than 100 items');
  });

  it('accepts a 3000-character section and refuses 3001 and empty ones', () => {
    expect(validateBlocks([section('x'.repeat(3000))])).toEqual({ ok: true });
    expect(errorsOf([section('x'.repeat(3001))]).errors).toEqual([
      'must be less than 3001 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(errorsOf([section('')]).errors).toEqual([
      'must be more than 0 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(errorsOf([{ type: 'section' }]).errors[0]).toContain('[json-pointer:/blocks/0]');
  });

  it('limits section fields to 10 of at most 2000 characters', () => {
    const field = (n: number) => ({ type: 'mrkdwn', text: 'f'.repeat(n) });
    // Ten full 2000-character fields would exceed the 12,000 characters a whole message may carry.
    expect(
      validateBlocks([{ type: 'section', fields: Array.from({ length: 10 }, () => field(1000)) }]),
    ).toEqual({
      ok: true,
    });
    expect(validateBlocks([{ type: 'section', fields: [field(2000)] }])).toEqual({ ok: true });
    expect(
      errorsOf([{ type: 'section', fields: Array.from({ length: 11 }, () => field(1)) }]).errors[0],
    ).toBe('no more than 10 items allowed [json-pointer:/blocks/0/fields]');
    expect(errorsOf([{ type: 'section', fields: [field(2001)] }]).errors[0]).toBe(
      'must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]',
    );
  });

  it('limits header text to 150 plain-text characters', () => {
    const header = (text: string, type = 'plain_text') => ({ type: 'header', text: { type, text } });
    expect(validateBlocks([header('h'.repeat(150))])).toEqual({ ok: true });
    expect(errorsOf([header('h'.repeat(151))]).errors[0]).toContain('/blocks/0/text/text');
    expect(errorsOf([header('h', 'mrkdwn')]).errors[0]).toContain('/blocks/0/text/type');
  });

  it('limits actions to 25 elements and checks button text, value, url, style', () => {
    const actions = (elements: unknown[]) => [{ type: 'actions', elements }];
    expect(
      validateBlocks(actions(Array.from({ length: 25 }, (_, i) => button({ action_id: `a${i}` })))),
    ).toEqual({
      ok: true,
    });
    expect(
      errorsOf(actions(Array.from({ length: 26 }, (_, i) => button({ action_id: `a${i}` })))).errors[0],
    ).toBe('no more than 25 items allowed [json-pointer:/blocks/0/elements]');
    expect(
      errorsOf(actions([button({ text: { type: 'plain_text', text: 'b'.repeat(76) } })])).errors[0],
    ).toContain('/blocks/0/elements/0/text/text');
    expect(errorsOf(actions([button({ value: 'v'.repeat(2001) })])).errors[0]).toContain(
      '/blocks/0/elements/0/value',
    );
    expect(errorsOf(actions([button({ url: `https://x/${'u'.repeat(3000)}` })])).errors[0]).toContain(
      '/blocks/0/elements/0/url',
    );
    expect(errorsOf(actions([button({ style: 'green' })])).errors[0]).toContain('/blocks/0/elements/0/style');
    expect(validateBlocks(actions([button({ value: 'v'.repeat(2000), style: 'danger' })]))).toEqual({
      ok: true,
    });
  });

  it('limits block_id and action_id to 255 characters and refuses duplicates', () => {
    expect(validateBlocks([{ type: 'divider', block_id: 'b'.repeat(255) }])).toEqual({ ok: true });
    expect(errorsOf([{ type: 'divider', block_id: 'b'.repeat(256) }]).errors[0]).toContain(
      '/blocks/0/block_id',
    );
    expect(
      errorsOf([{ type: 'actions', elements: [button({ action_id: 'a'.repeat(256) })] }]).errors[0],
    ).toContain('/blocks/0/elements/0/action_id');
    expect(
      errorsOf([
        { type: 'divider', block_id: 'same' },
        { type: 'divider', block_id: 'same' },
      ]).errors[0],
    ).toContain('duplicate block_id');
  });

  it('checks confirm objects and refuses unknown block types', () => {
    const confirm = {
      title: { type: 'plain_text', text: 'Restart?' },
      text: { type: 'mrkdwn', text: 'Restart *qnwis* on app-01' },
      confirm: { type: 'plain_text', text: 'Restart' },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: 'danger',
    };
    expect(validateBlocks([{ type: 'actions', elements: [button({ confirm })] }])).toEqual({ ok: true });
    expect(
      errorsOf([{ type: 'actions', elements: [button({ confirm: { ...confirm, title: undefined } })] }])
        .errors[0],
    ).toContain('/blocks/0/elements/0/confirm');
    expect(errorsOf([{ type: 'carousel' }]).errors[0]).toBe(
      'unsupported block type: carousel [json-pointer:/blocks/0/type]',
    );
    expect(validateBlocks('not an array').ok).toBe(false);
  });

  it('answers msg_too_long beyond 40,000 characters of text and msg_blocks_too_long beyond 12,000 in blocks', () => {
    expect(checkMessageContent({ text: 't'.repeat(BLOCK_LIMITS.messageText) })).toEqual({ ok: true });
    expect(checkMessageContent({ text: 't'.repeat(BLOCK_LIMITS.messageText + 1) })).toMatchObject({
      ok: false,
      error: 'msg_too_long',
    });
    const five = Array.from({ length: 5 }, () => section('x'.repeat(3000)));
    expect(blocksTextLength(five)).toBe(15_000);
    expect(checkMessageContent({ blocks: five })).toMatchObject({ ok: false, error: 'msg_blocks_too_long' });
    expect(checkMessageContent({ blocks: five.slice(0, 4) })).toEqual({ ok: true });
  });

  it('validates modal views (title ≤ 24, submit required with inputs)', () => {
    const input = {
      type: 'input',
      block_id: 'reason',
      label: { type: 'plain_text', text: 'Reason' },
      element: { type: 'plain_text_input', action_id: 'text' },
    };
    const view = { type: 'modal', title: { type: 'plain_text', text: 'Approve restart' }, blocks: [input] };
    expect(validateView({ ...view, submit: { type: 'plain_text', text: 'Approve' } })).toEqual({ ok: true });
    expect(validateView(view)).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(
      validateView({ ...view, title: { type: 'plain_text', text: 't'.repeat(25) }, submit: view.title }),
    ).toMatchObject({ ok: false, errors: ['must be less than 25 characters [json-pointer:/title/text]'] });
  });
});

describe('request signing', () => {
  // The example from Slack's "Verifying requests from Slack" guide; the digest was checked with
  // `openssl dgst -sha256 -hmac <secret>` over "v0:<ts>:<body>".
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const timestamp = 1531420618;
  const body =
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
  const expected = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

  it('matches the documented vector', () => {
    expect(signSlackRequest(secret, timestamp, body)).toBe(expected);
    expect(slackSignatureHeaders(secret, timestamp, body)).toEqual({
      'X-Slack-Request-Timestamp': '1531420618',
      'X-Slack-Signature': expected,
    });
  });

  it('verifies within 5 minutes only, and refuses a tampered body or another secret', () => {
    const nowMs = timestamp * 1000 + 60_000;
    const ok = { signingSecret: secret, timestampSec: timestamp, signature: expected, rawBody: body, nowMs };
    expect(isValidSlackSignature(ok)).toBe(true);
    expect(isValidSlackSignature({ ...ok, nowMs: timestamp * 1000 + 6 * 60_000 })).toBe(false);
    expect(isValidSlackSignature({ ...ok, rawBody: `${body}x` })).toBe(false);
    expect(isValidSlackSignature({ ...ok, signingSecret: 'other' })).toBe(false);
  });
});

describe('message timestamps', () => {
  it('formats as seconds.microseconds and parses back', () => {
    expect(formatTs(1_732_741_234_000_100)).toBe('1732741234.000100');
    expect(parseTs('1732741234.000100')).toBe(1_732_741_234_000_100);
    expect(parseTs('1732741234.1')).toBeUndefined();
  });

  it('strictly increases even when the clock stands still or goes back', () => {
    let now = 1_732_741_234_000;
    const next = createTsGenerator(() => now);
    const a = next();
    const b = next();
    now -= 5000;
    const c = next();
    expect(a).toBe('1732741234.000000');
    expect(b).toBe('1732741234.000001');
    expect(c).toBe('1732741234.000002');
    now += 10_000;
    expect(next()).toBe('1732741239.000000');
    for (const ts of [a, b, c]) expect(ts).toMatch(/^\d{10}\.\d{6}$/);
  });
});
