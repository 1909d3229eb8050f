import type { Button, KnownBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';

const divider: KnownBlock = { type: 'divider' };
const section = (text: string): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (i: number, over: Partial<Button> = {}): Button => ({
  type: 'button',
  action_id: `a${i}`,
  text: { type: 'plain_text', text: `Button ${i}` },
  ...over,
});
const actions = (elements: Button[]): KnownBlock => ({ type: 'actions', elements });

describe('checkSlackLimits', () => {
  it('accepts a message at the limits', () => {
    expect(
      checkSlackLimits({
        text: 't'.repeat(4000),
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(150) } },
          section('s'.repeat(3000)),
          {
            type: 'section',
            fields: Array.from({ length: 10 }, () => ({ type: 'mrkdwn' as const, text: 'f'.repeat(200) })),
          },
          actions(
            Array.from({ length: 25 }, (_, i) =>
              i === 0
                ? button(i, { text: { type: 'plain_text', text: 'b'.repeat(75) }, value: 'v'.repeat(2000) })
                : button(i),
            ),
          ),
          ...Array.from({ length: 46 }, () => divider),
        ],
      }),
    ).toEqual([]);
  });

  it('catches 51 blocks in a message, and allows 100 in a modal', () => {
    expect(checkSlackLimits({ blocks: Array.from({ length: 50 }, () => divider) })).toEqual([]);
    expect(checkSlackLimits({ blocks: Array.from({ length: 51 }, () => divider) })).toEqual([
      'blocks: 51 blocks (maximum 50 in a message)',
    ]);
    expect(checkSlackLimits({ blocks: Array.from({ length: 100 }, () => divider) }, 'modal')).toEqual([]);
    expect(checkSlackLimits({ blocks: Array.from({ length: 101 }, () => divider) }, 'modal')).toEqual([
      'blocks: 101 blocks (maximum 100 in a modal)',
    ]);
  });

  it('catches a 3001-character section and an empty one', () => {
    expect(checkSlackLimits({ blocks: [section('x'.repeat(3001))] })).toEqual([
      'blocks[0] (section): text is 3001 characters (maximum 3000)',
    ]);
    expect(checkSlackLimits({ blocks: [section('')] })).toEqual([
      'blocks[0] (section): text is empty (minimum 1 character)',
    ]);
    expect(checkSlackLimits({ blocks: [{ type: 'section' } as KnownBlock] })).toEqual([
      'blocks[0] (section): needs text or fields',
    ]);
  });

  it('catches a 76-character button text, long values and urls', () => {
    const problems = checkSlackLimits({
      blocks: [
        actions([
          button(1, {
            text: { type: 'plain_text', text: 'b'.repeat(76) },
            value: 'v'.repeat(2001),
            url: `https://x/${'u'.repeat(2991)}`,
          }),
        ]),
      ],
    });
    expect(problems).toEqual([
      'blocks[0] (actions) element 0.text: text is 76 characters (maximum 75)',
      'blocks[0] (actions) element 0.value: is 2001 characters (maximum 2000)',
      'blocks[0] (actions) element 0.url: is 3001 characters (maximum 3000)',
    ]);
  });

  it('catches 26 elements in an actions block, and duplicate action ids', () => {
    expect(checkSlackLimits({ blocks: [actions(Array.from({ length: 26 }, (_, i) => button(i)))] })).toEqual([
      'blocks[0] (actions): 26 elements (maximum 25)',
    ]);
    expect(checkSlackLimits({ blocks: [actions([button(1), button(1)])] })).toEqual([
      'blocks[0] (actions) element 1.action_id: duplicate action_id "a1"',
    ]);
  });

  it('catches too many or too long fields', () => {
    const field = (n: number) => ({ type: 'mrkdwn' as const, text: 'f'.repeat(n) });
    expect(
      checkSlackLimits({
        blocks: [{ type: 'section', fields: [...Array.from({ length: 10 }, () => field(1)), field(2001)] }],
      }),
    ).toEqual([
      'blocks[0] (section): 11 fields (maximum 10)',
      'blocks[0] (section) field 10: text is 2001 characters (maximum 2000)',
    ]);
  });

  it('catches a long or mrkdwn header', () => {
    expect(
      checkSlackLimits({ blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }] }),
    ).toEqual(['blocks[0] (header): text is 151 characters (maximum 150)']);
    const mrkdwnHeader = { type: 'header', text: { type: 'mrkdwn', text: '*x*' } } as unknown as KnownBlock;
    expect(checkSlackLimits({ blocks: [mrkdwnHeader] })).toEqual([
      'blocks[0] (header): type must be plain_text (is mrkdwn)',
    ]);
  });

  it('catches long and duplicate ids', () => {
    expect(
      checkSlackLimits({
        blocks: [
          { type: 'divider', block_id: 'b'.repeat(256) },
          { type: 'divider', block_id: 'same' },
          { type: 'divider', block_id: 'same' },
          actions([button(1, { action_id: 'a'.repeat(256) })]),
        ],
      }),
    ).toEqual([
      'blocks[0].block_id: is 256 characters (maximum 255)',
      'blocks[2].block_id: duplicate block_id "same"',
      'blocks[3] (actions) element 0.action_id: is 256 characters (maximum 255)',
    ]);
  });

  it('catches too many context elements', () => {
    const el = { type: 'mrkdwn' as const, text: 'c' };
    expect(
      checkSlackLimits({ blocks: [{ type: 'context', elements: Array.from({ length: 11 }, () => el) }] }),
    ).toEqual(['blocks[0] (context): 11 elements (maximum 10)']);
  });

  it('reports message text beyond 4000 characters', () => {
    expect(checkSlackLimits({ text: 'x'.repeat(4001) })).toEqual([
      'text: is 4001 characters: beyond 4000 Slack may answer msg_too_long',
    ]);
    expect(checkSlackLimits({})).toEqual(['message: needs text or blocks']);
  });

  it('catches blocks that are too big together though each is within its limit', () => {
    const blocks = Array.from({ length: 5 }, () => section('x'.repeat(2900)));
    const problems = checkSlackLimits({ blocks });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^blocks: \d+ characters of block JSON \(maximum about 12000: msg_blocks_too_long\)$/,
    );
    // Modals have no such message-wide limit.
    expect(checkSlackLimits({ blocks }, 'modal')).toEqual([]);
  });
});
