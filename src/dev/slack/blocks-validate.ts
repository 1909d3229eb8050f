/**
 * Block Kit validation against Slack's documented limits (see CONTRACTS.md, node-slack-sdk
 * `packages/types/src/block-kit/*` and docs.slack.dev "Block Kit" reference). Pure: no I/O.
 *
 * Slack refuses a message whose blocks break a limit with `invalid_blocks`, and lists each problem
 * in `errors` / `response_metadata.messages` as "<what> [json-pointer:/blocks/0/text/text]"
 * (the messages prefixed with "[ERROR] "). A bot must never retry such a call: it will fail again.
 */

export const BLOCK_LIMITS = {
  /** Blocks per message. */
  messageBlocks: 50,
  /** Blocks per modal / home tab view. */
  modalBlocks: 100,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  actionsElements: 25,
  contextElements: 10,
  blockId: 255,
  actionId: 255,
  buttonText: 75,
  buttonValue: 2000,
  url: 3000,
  altText: 2000,
  imageTitle: 2000,
  inputLabel: 2000,
  inputHint: 2000,
  optionText: 75,
  optionValue: 150,
  selectOptions: 100,
  overflowOptions: 5,
  placeholder: 150,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  markdownBlockText: 12_000,
  viewTitle: 24,
  viewButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  /** Message `text`: Slack answers `msg_too_long` beyond this. */
  messageText: 40_000,
  /** Characters of text in all blocks of one message: beyond it `msg_blocks_too_long`. */
  messageBlocksText: 12_000,
} as const;

export type BlockSurface = 'message' | 'modal';

export type ContentErrorCode =
  | 'invalid_blocks'
  | 'invalid_blocks_format'
  | 'msg_too_long'
  | 'msg_blocks_too_long';

export type ContentCheck = { ok: true } | { ok: false; error: ContentErrorCode; errors: string[] };

const KNOWN_BLOCKS = new Set([
  'actions',
  'context',
  'context_actions',
  'divider',
  'file',
  'header',
  'image',
  'input',
  'markdown',
  'rich_text',
  'section',
  'table',
  'video',
]);

/** Interactive elements whose only checked limit is `action_id`. */
const PLAIN_INTERACTIVE_ELEMENTS = new Set([
  'channels_select',
  'checkboxes',
  'conversations_select',
  'datepicker',
  'datetimepicker',
  'email_text_input',
  'external_select',
  'file_input',
  'multi_channels_select',
  'multi_conversations_select',
  'multi_external_select',
  'multi_users_select',
  'number_input',
  'plain_text_input',
  'radio_buttons',
  'rich_text_input',
  'timepicker',
  'url_text_input',
  'users_select',
  'workflow_button',
]);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Collector {
  readonly errors: string[] = [];
  fail(pointer: string, what: string): void {
    this.errors.push(`${what} [json-pointer:${pointer}]`);
  }
}

interface TextRules {
  max: number;
  plainOnly?: boolean;
  required?: boolean;
}

function checkText(c: Collector, value: unknown, pointer: string, rules: TextRules): void {
  if (value === undefined) {
    if (rules.required !== false)
      c.fail(pointer.replace(/\/[^/]+$/, '') || '/', `missing required field: ${pointer.split('/').pop()}`);
    return;
  }
  if (!isObject(value)) {
    c.fail(pointer, 'must be an object');
    return;
  }
  const type = value.type;
  if (type === undefined) c.fail(pointer, 'missing required field: type');
  else if (rules.plainOnly ? type !== 'plain_text' : type !== 'plain_text' && type !== 'mrkdwn')
    c.fail(
      `${pointer}/type`,
      `must be ${rules.plainOnly ? "'plain_text'" : "one of 'plain_text', 'mrkdwn'"}`,
    );
  const text = value.text;
  if (typeof text !== 'string') {
    c.fail(pointer, 'missing required field: text');
    return;
  }
  if (text.length === 0) c.fail(`${pointer}/text`, 'must be more than 0 characters');
  else if (text.length > rules.max)
    c.fail(`${pointer}/text`, `must be less than ${rules.max + 1} characters`);
}

function checkString(c: Collector, value: unknown, pointer: string, max: number, required = false): void {
  if (value === undefined) {
    if (required)
      c.fail(pointer.replace(/\/[^/]+$/, ''), `missing required field: ${pointer.split('/').pop()}`);
    return;
  }
  if (typeof value !== 'string') c.fail(pointer, 'must be a string');
  else if (value.length > max) c.fail(pointer, `must be less than ${max + 1} characters`);
  else if (required && value.length === 0) c.fail(pointer, 'must be more than 0 characters');
}

function checkArray(
  c: Collector,
  value: unknown,
  pointer: string,
  { min, max, required }: { min: number; max: number; required: boolean },
): unknown[] {
  if (value === undefined) {
    if (required)
      c.fail(pointer.replace(/\/[^/]+$/, ''), `missing required field: ${pointer.split('/').pop()}`);
    return [];
  }
  if (!Array.isArray(value)) {
    c.fail(pointer, 'must be an array');
    return [];
  }
  if (value.length < min) c.fail(pointer, `must provide at least ${min} item${min === 1 ? '' : 's'}`);
  if (value.length > max) c.fail(pointer, `no more than ${max} items allowed`);
  return value;
}

function checkConfirm(c: Collector, value: unknown, pointer: string): void {
  if (value === undefined) return;
  if (!isObject(value)) {
    c.fail(pointer, 'must be an object');
    return;
  }
  checkText(c, value.title, `${pointer}/title`, { max: BLOCK_LIMITS.confirmTitle, plainOnly: true });
  checkText(c, value.text, `${pointer}/text`, { max: BLOCK_LIMITS.confirmText });
  checkText(c, value.confirm, `${pointer}/confirm`, { max: BLOCK_LIMITS.confirmButton, plainOnly: true });
  checkText(c, value.deny, `${pointer}/deny`, { max: BLOCK_LIMITS.confirmButton, plainOnly: true });
  if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger')
    c.fail(`${pointer}/style`, "must be one of 'primary', 'danger'");
}

function checkOptions(c: Collector, value: unknown, pointer: string, max: number, required: boolean): void {
  const options = checkArray(c, value, pointer, { min: 1, max, required });
  options.forEach((option, i) => {
    const p = `${pointer}/${i}`;
    if (!isObject(option)) {
      c.fail(p, 'must be an object');
      return;
    }
    checkText(c, option.text, `${p}/text`, { max: BLOCK_LIMITS.optionText });
    checkString(c, option.value, `${p}/value`, BLOCK_LIMITS.optionValue);
  });
}

/** Checks one interactive element (button, select, …); `actionIds` catches duplicates in a block. */
function checkElement(c: Collector, value: unknown, pointer: string, actionIds: Set<string>): void {
  if (!isObject(value)) {
    c.fail(pointer, 'must be an object');
    return;
  }
  const type = value.type;
  if (typeof value.action_id === 'string') {
    if (actionIds.has(value.action_id))
      c.fail(`${pointer}/action_id`, `duplicate action_id: ${value.action_id}`);
    actionIds.add(value.action_id);
  }
  checkString(c, value.action_id, `${pointer}/action_id`, BLOCK_LIMITS.actionId);
  checkConfirm(c, value.confirm, `${pointer}/confirm`);
  switch (type) {
    case 'button':
      checkText(c, value.text, `${pointer}/text`, { max: BLOCK_LIMITS.buttonText, plainOnly: true });
      checkString(c, value.value, `${pointer}/value`, BLOCK_LIMITS.buttonValue);
      checkString(c, value.url, `${pointer}/url`, BLOCK_LIMITS.url);
      checkString(c, value.accessibility_label, `${pointer}/accessibility_label`, BLOCK_LIMITS.buttonText);
      if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger')
        c.fail(`${pointer}/style`, "must be one of 'primary', 'danger'");
      return;
    case 'static_select':
    case 'multi_static_select':
      if (value.placeholder !== undefined)
        checkText(c, value.placeholder, `${pointer}/placeholder`, {
          max: BLOCK_LIMITS.placeholder,
          plainOnly: true,
        });
      if (value.option_groups === undefined)
        checkOptions(c, value.options, `${pointer}/options`, BLOCK_LIMITS.selectOptions, true);
      return;
    case 'overflow':
      checkOptions(c, value.options, `${pointer}/options`, BLOCK_LIMITS.overflowOptions, true);
      return;
    case 'image':
      checkImageFields(c, value, pointer);
      return;
    default:
      if (typeof type !== 'string') c.fail(pointer, 'missing required field: type');
      else if (!PLAIN_INTERACTIVE_ELEMENTS.has(type))
        c.fail(`${pointer}/type`, `unsupported element type: ${type}`);
  }
}

function checkImageFields(c: Collector, value: Json, pointer: string): void {
  if (value.image_url === undefined && value.slack_file === undefined)
    c.fail(pointer, 'missing required field: image_url');
  checkString(c, value.image_url, `${pointer}/image_url`, BLOCK_LIMITS.url);
  checkString(c, value.alt_text, `${pointer}/alt_text`, BLOCK_LIMITS.altText, true);
}

function checkBlock(c: Collector, block: unknown, pointer: string, blockIds: Set<string>): void {
  if (!isObject(block)) {
    c.fail(pointer, 'must be an object');
    return;
  }
  const type = block.type;
  if (typeof type !== 'string') {
    c.fail(pointer, 'missing required field: type');
    return;
  }
  if (!KNOWN_BLOCKS.has(type)) {
    c.fail(`${pointer}/type`, `unsupported block type: ${type}`);
    return;
  }
  if (block.block_id !== undefined) {
    checkString(c, block.block_id, `${pointer}/block_id`, BLOCK_LIMITS.blockId);
    if (typeof block.block_id === 'string') {
      if (blockIds.has(block.block_id))
        c.fail(`${pointer}/block_id`, `duplicate block_id: ${block.block_id}`);
      blockIds.add(block.block_id);
    }
  }
  const actionIds = new Set<string>();
  switch (type) {
    case 'section': {
      if (block.text === undefined && block.fields === undefined) {
        c.fail(pointer, 'must provide either text or fields');
        break;
      }
      if (block.text !== undefined)
        checkText(c, block.text, `${pointer}/text`, { max: BLOCK_LIMITS.sectionText });
      const fields = checkArray(c, block.fields, `${pointer}/fields`, {
        min: 1,
        max: BLOCK_LIMITS.sectionFields,
        required: false,
      });
      fields.forEach((field, i) => {
        checkText(c, field, `${pointer}/fields/${i}`, { max: BLOCK_LIMITS.fieldText });
      });
      if (block.accessory !== undefined) checkElement(c, block.accessory, `${pointer}/accessory`, actionIds);
      break;
    }
    case 'header':
      checkText(c, block.text, `${pointer}/text`, { max: BLOCK_LIMITS.headerText, plainOnly: true });
      break;
    case 'divider':
      break;
    case 'context': {
      const elements = checkArray(c, block.elements, `${pointer}/elements`, {
        min: 1,
        max: BLOCK_LIMITS.contextElements,
        required: true,
      });
      elements.forEach((element, i) => {
        const p = `${pointer}/elements/${i}`;
        if (isObject(element) && element.type === 'image') checkImageFields(c, element, p);
        else checkText(c, element, p, { max: BLOCK_LIMITS.sectionText });
      });
      break;
    }
    case 'actions': {
      const elements = checkArray(c, block.elements, `${pointer}/elements`, {
        min: 1,
        max: BLOCK_LIMITS.actionsElements,
        required: true,
      });
      elements.forEach((element, i) => {
        checkElement(c, element, `${pointer}/elements/${i}`, actionIds);
      });
      break;
    }
    case 'image':
      checkImageFields(c, block, pointer);
      if (block.title !== undefined)
        checkText(c, block.title, `${pointer}/title`, { max: BLOCK_LIMITS.imageTitle, plainOnly: true });
      break;
    case 'input':
      checkText(c, block.label, `${pointer}/label`, { max: BLOCK_LIMITS.inputLabel, plainOnly: true });
      if (block.hint !== undefined)
        checkText(c, block.hint, `${pointer}/hint`, { max: BLOCK_LIMITS.inputHint, plainOnly: true });
      if (block.element === undefined) c.fail(pointer, 'missing required field: element');
      else checkElement(c, block.element, `${pointer}/element`, actionIds);
      break;
    case 'rich_text':
      checkArray(c, block.elements, `${pointer}/elements`, { min: 1, max: 100, required: true }).forEach(
        (el, i) => {
          if (!isObject(el) || typeof el.type !== 'string' || !el.type.startsWith('rich_text_'))
            c.fail(
              `${pointer}/elements/${i}`,
              'must be a rich_text_section, rich_text_list, rich_text_preformatted or rich_text_quote',
            );
        },
      );
      break;
    case 'markdown':
      checkString(c, block.text, `${pointer}/text`, BLOCK_LIMITS.markdownBlockText, true);
      break;
    case 'context_actions':
      checkArray(c, block.elements, `${pointer}/elements`, { min: 1, max: 5, required: true });
      break;
    default:
      // file, table, video: accepted with their type only.
      break;
  }
}

/** Sum of the characters of every `text` string inside the blocks (what Slack counts for msg_blocks_too_long). */
export function blocksTextLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, v) => sum + blocksTextLength(v), 0);
  if (!isObject(value)) return 0;
  let sum = 0;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'text' && typeof v === 'string') sum += v.length;
    else sum += blocksTextLength(v);
  }
  return sum;
}

/**
 * Validates a `blocks` array for a surface. `pointerBase` is where the array sits in the request
 * (`/blocks` for messages, `/view/blocks` … Slack reports views relative to the view: `/blocks`).
 */
export function validateBlocks(
  blocks: unknown,
  surface: BlockSurface = 'message',
  pointerBase = '/blocks',
): ContentCheck {
  const c = new Collector();
  if (!Array.isArray(blocks)) {
    return {
      ok: false,
      error: 'invalid_blocks_format',
      errors: [`must be an array [json-pointer:${pointerBase}]`],
    };
  }
  const max = surface === 'modal' ? BLOCK_LIMITS.modalBlocks : BLOCK_LIMITS.messageBlocks;
  if (blocks.length > max) c.fail(pointerBase, `no more than ${max} items allowed`);
  const blockIds = new Set<string>();
  blocks.forEach((block, i) => {
    checkBlock(c, block, `${pointerBase}/${i}`, blockIds);
  });
  if (c.errors.length > 0) return { ok: false, error: 'invalid_blocks', errors: c.errors };
  if (surface === 'message' && blocksTextLength(blocks) > BLOCK_LIMITS.messageBlocksText) {
    return {
      ok: false,
      error: 'msg_blocks_too_long',
      errors: [
        `total text in blocks must be less than ${BLOCK_LIMITS.messageBlocksText + 1} characters [json-pointer:${pointerBase}]`,
      ],
    };
  }
  return { ok: true };
}

/** Checks a message's `text` and `blocks` together, the way chat.postMessage / chat.update do. */
export function checkMessageContent(content: { text?: string | undefined; blocks?: unknown }): ContentCheck {
  if (content.text !== undefined && content.text.length > BLOCK_LIMITS.messageText) {
    return { ok: false, error: 'msg_too_long', errors: [] };
  }
  if (content.blocks !== undefined) return validateBlocks(content.blocks, 'message');
  return { ok: true };
}

/** Validates a modal view object (views.open / views.update / views.push). */
export function validateView(view: unknown): ContentCheck {
  const c = new Collector();
  if (!isObject(view))
    return { ok: false, error: 'invalid_blocks_format', errors: ['must be an object [json-pointer:/view]'] };
  if (view.type !== 'modal' && view.type !== 'home') c.fail('/type', "must be one of 'modal', 'home'");
  if (view.type === 'modal') {
    checkText(c, view.title, '/title', { max: BLOCK_LIMITS.viewTitle, plainOnly: true });
    if (view.submit !== undefined)
      checkText(c, view.submit, '/submit', { max: BLOCK_LIMITS.viewButton, plainOnly: true });
    if (view.close !== undefined)
      checkText(c, view.close, '/close', { max: BLOCK_LIMITS.viewButton, plainOnly: true });
  }
  checkString(c, view.private_metadata, '/private_metadata', BLOCK_LIMITS.privateMetadata);
  checkString(c, view.callback_id, '/callback_id', BLOCK_LIMITS.callbackId);
  if (c.errors.length > 0) return { ok: false, error: 'invalid_blocks', errors: c.errors };
  const blocks = validateBlocks(view.blocks ?? [], 'modal', '/blocks');
  if (!blocks.ok) return blocks;
  if (
    view.type === 'modal' &&
    view.submit === undefined &&
    Array.isArray(view.blocks) &&
    view.blocks.some((b) => isObject(b) && b.type === 'input')
  ) {
    return {
      ok: false,
      error: 'invalid_blocks',
      errors: ['submit is required when an input block is present [json-pointer:/submit]'],
    };
  }
  return { ok: true };
}
