/**
 * Slack's documented Block Kit limits (CONTRACTS.md; node-slack-sdk packages/types/src/block-kit),
 * checked before anything is sent. Slack answers a violation with `invalid_blocks` (or
 * `msg_too_long` / `msg_blocks_too_long`), which is never worth retrying, so every builder here is
 * tested to produce no violation for any input. Pure.
 *
 * Lengths are UTF-16 code units (`string.length`): never fewer than the characters Slack counts.
 */
import type { KnownBlock } from '@slack/web-api';

export const SLACK_LIMITS = {
  messageBlocks: 50,
  modalBlocks: 100,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  contextText: 3000,
  actionsElements: 25,
  blockId: 255,
  actionId: 255,
  buttonText: 75,
  buttonValue: 2000,
  url: 3000,
  /** Confirmation dialog: title, text, and the confirm/deny button labels. */
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  /** Message `text`: beyond about this Slack may answer `msg_too_long` (reported, warn-level). */
  messageText: 4000,
  /**
   * All blocks of one message (`msg_blocks_too_long`). Slack counts text "with a buffer for block
   * containers" and does not document how; we measure the blocks' serialized JSON, which is
   * always at least their text, so passing here passes there.
   */
  messageBlocksJson: 12_000,
} as const;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Serialized size of the blocks: what `messageBlocksJson` limits. */
export function blocksSize(blocks: readonly KnownBlock[]): number {
  return JSON.stringify(blocks).length;
}

class Report {
  readonly problems: string[] = [];
  add(where: string, what: string): void {
    this.problems.push(`${where}: ${what}`);
  }
  /** A text object: present, of the allowed type, 1..max characters. */
  text(where: string, value: unknown, max: number, plainOnly = false): void {
    if (!isObject(value)) {
      this.add(where, 'missing text object');
      return;
    }
    if (plainOnly ? value.type !== 'plain_text' : value.type !== 'plain_text' && value.type !== 'mrkdwn')
      this.add(
        where,
        `type must be ${plainOnly ? 'plain_text' : 'plain_text or mrkdwn'} (is ${String(value.type)})`,
      );
    const text = value.text;
    if (typeof text !== 'string') this.add(where, 'text must be a string');
    else if (text.length === 0) this.add(where, 'text is empty (minimum 1 character)');
    else if (text.length > max) this.add(where, `text is ${text.length} characters (maximum ${max})`);
  }
  string(where: string, value: unknown, max: number): void {
    if (value === undefined) return;
    if (typeof value !== 'string') this.add(where, 'must be a string');
    else if (value.length > max) this.add(where, `is ${value.length} characters (maximum ${max})`);
  }
}

function checkElement(r: Report, where: string, el: unknown, actionIds: Set<string>): void {
  if (!isObject(el)) {
    r.add(where, 'element must be an object');
    return;
  }
  if (typeof el.action_id === 'string') {
    if (actionIds.has(el.action_id)) r.add(`${where}.action_id`, `duplicate action_id "${el.action_id}"`);
    actionIds.add(el.action_id);
  }
  r.string(`${where}.action_id`, el.action_id, SLACK_LIMITS.actionId);
  if (el.type === 'button') {
    r.text(`${where}.text`, el.text, SLACK_LIMITS.buttonText, true);
    r.string(`${where}.value`, el.value, SLACK_LIMITS.buttonValue);
    r.string(`${where}.url`, el.url, SLACK_LIMITS.url);
    r.string(`${where}.accessibility_label`, el.accessibility_label, SLACK_LIMITS.buttonText);
  }
  // A confirmation dialog (buttons and other interactive elements).
  const confirm = el.confirm;
  if (confirm !== undefined) {
    if (!isObject(confirm)) r.add(`${where}.confirm`, 'must be an object');
    else {
      r.text(`${where}.confirm.title`, confirm.title, SLACK_LIMITS.confirmTitle, true);
      r.text(`${where}.confirm.text`, confirm.text, SLACK_LIMITS.confirmText);
      r.text(`${where}.confirm.confirm`, confirm.confirm, SLACK_LIMITS.confirmButton, true);
      r.text(`${where}.confirm.deny`, confirm.deny, SLACK_LIMITS.confirmButton, true);
    }
  }
}

function checkBlock(r: Report, where: string, block: unknown, blockIds: Set<string>): void {
  if (!isObject(block)) {
    r.add(where, 'block must be an object');
    return;
  }
  if (typeof block.block_id === 'string') {
    if (blockIds.has(block.block_id)) r.add(`${where}.block_id`, `duplicate block_id "${block.block_id}"`);
    blockIds.add(block.block_id);
  }
  r.string(`${where}.block_id`, block.block_id, SLACK_LIMITS.blockId);
  const actionIds = new Set<string>();
  switch (block.type) {
    case 'header':
      r.text(`${where} (header)`, block.text, SLACK_LIMITS.headerText, true);
      return;
    case 'section': {
      if (block.text === undefined && block.fields === undefined)
        r.add(`${where} (section)`, 'needs text or fields');
      if (block.text !== undefined) r.text(`${where} (section)`, block.text, SLACK_LIMITS.sectionText);
      if (block.fields !== undefined) {
        const fields = Array.isArray(block.fields) ? block.fields : [];
        if (fields.length === 0) r.add(`${where} (section)`, 'fields must be a non-empty array');
        if (fields.length > SLACK_LIMITS.sectionFields)
          r.add(`${where} (section)`, `${fields.length} fields (maximum ${SLACK_LIMITS.sectionFields})`);
        fields.forEach((f, i) => {
          r.text(`${where} (section) field ${i}`, f, SLACK_LIMITS.fieldText);
        });
      }
      if (block.accessory !== undefined)
        checkElement(r, `${where} (section) accessory`, block.accessory, actionIds);
      return;
    }
    case 'context': {
      const elements = Array.isArray(block.elements) ? block.elements : [];
      if (elements.length === 0) r.add(`${where} (context)`, 'needs at least 1 element');
      if (elements.length > SLACK_LIMITS.contextElements)
        r.add(`${where} (context)`, `${elements.length} elements (maximum ${SLACK_LIMITS.contextElements})`);
      elements.forEach((el, i) => {
        if (isObject(el) && el.type === 'image') return;
        r.text(`${where} (context) element ${i}`, el, SLACK_LIMITS.contextText);
      });
      return;
    }
    case 'actions': {
      const elements = Array.isArray(block.elements) ? block.elements : [];
      if (elements.length === 0) r.add(`${where} (actions)`, 'needs at least 1 element');
      if (elements.length > SLACK_LIMITS.actionsElements)
        r.add(`${where} (actions)`, `${elements.length} elements (maximum ${SLACK_LIMITS.actionsElements})`);
      elements.forEach((el, i) => {
        checkElement(r, `${where} (actions) element ${i}`, el, actionIds);
      });
      return;
    }
    default:
      // Other block types (divider, image, rich_text, …): only the common limits above.
      return;
  }
}

/**
 * Human-readable violations of Slack's limits in `message` (empty when it is fine), e.g.
 * `blocks[3] (section): text is 3001 characters (maximum 3000)`.
 */
export function checkSlackLimits(
  message: { text?: string; blocks?: readonly KnownBlock[] },
  kind: 'message' | 'modal' = 'message',
): string[] {
  const r = new Report();
  if (message.text !== undefined && message.text.length > SLACK_LIMITS.messageText)
    r.add(
      'text',
      `is ${message.text.length} characters: beyond ${SLACK_LIMITS.messageText} Slack may answer msg_too_long`,
    );
  const blocks = message.blocks;
  if (blocks === undefined) {
    if (message.text === undefined || message.text.length === 0) r.add('message', 'needs text or blocks');
    return r.problems;
  }
  const max = kind === 'modal' ? SLACK_LIMITS.modalBlocks : SLACK_LIMITS.messageBlocks;
  if (blocks.length > max) r.add('blocks', `${blocks.length} blocks (maximum ${max} in a ${kind})`);
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => {
    checkBlock(r, `blocks[${i}]`, block, blockIds);
  });
  if (kind === 'message') {
    const size = blocksSize(blocks);
    if (size > SLACK_LIMITS.messageBlocksJson)
      r.add(
        'blocks',
        `${size} characters of block JSON (maximum about ${SLACK_LIMITS.messageBlocksJson}: msg_blocks_too_long)`,
      );
  }
  return r.problems;
}
