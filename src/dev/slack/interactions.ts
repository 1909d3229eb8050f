/**
 * A person acting in the workspace: typing a slash command, clicking a button, submitting or
 * closing a modal. Each builds what Slack would send, delivers it signed to the bot, records the
 * delivery, and applies the bot's answer as Slack does (immediate command responses, modal
 * `response_action`s, "/qnwis failed with the error …" for a bot that did not answer in time).
 * Also serves the `response_url`s handed out with those requests.
 */
import type { Logger } from '../../observability/logger.js';
import { checkMessageContent, validateView } from './blocks-validate.js';
import { formatTs } from './ids.js';
import {
  type BlockAction,
  type BotAnswer,
  blockActionsPayload,
  interactionForm,
  sendSignedForm,
  slashCommandForm,
  viewSubmissionPayload,
} from './outbound.js';
import { SLACKBOT } from './seed.js';
import type { SocketModeHub } from './socket-mode.js';
import {
  type InteractionKind,
  type Json,
  RESPONSE_URL_MAX_USES,
  RESPONSE_URL_TTL_MS,
  type SlackStore,
  type StoredChannel,
  type StoredMessage,
  type StoredUser,
  type StoredView,
} from './store.js';

/** A request from the page or a test that names something that does not exist. */
export class InteractionError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 404) {
    super(message);
    this.name = 'InteractionError';
    this.code = code;
    this.status = status;
  }
}

export interface DeliveryResult {
  /**
   * The bot's HTTP status; null when it did not answer (refused, timed out). Over Socket Mode
   * (no HTTP status) 200 stands for an ack in time.
   */
  status: number | null;
  /** The bot's body (parsed JSON, or text); over Socket Mode the ack's payload ('' without one). */
  body: unknown;
  /** How it reached the bot: signed HTTP POST to the Request URL, or a Socket Mode envelope. */
  transport?: DeliveryTransport;
  /** Slack's name for a failed delivery, as the user sees it. */
  error?: string;
  delivery_id?: string;
}

export interface ViewSubmitResult extends DeliveryResult {
  /** Whether the modal closed (Slack closes it on an empty 2xx answer). */
  view_closed: boolean;
  /** Per-block errors to show in the modal (`response_action: errors`, or required inputs left empty). */
  errors?: Record<string, string>;
  /** The view now on top of the user's stack, when it changed (update / push). */
  view?: Json;
}

export type DeliveryTransport = 'http' | 'socket_mode';

export interface InteractionsOptions {
  store: SlackStore;
  signingSecret: string;
  /** Where the app's Request URL is (commands and interactivity share it, as with Bolt). */
  botUrl: () => string;
  /** Slack gives up after 3 s. */
  timeoutMs: number;
  log: Logger;
  /** While an app is connected over Socket Mode, deliveries go there instead of the Request URL. */
  socketMode?: SocketModeHub;
}

type Values = Record<string, Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Interactions {
  private readonly opts: InteractionsOptions;

  constructor(opts: InteractionsOptions) {
    this.opts = opts;
  }

  private get store(): SlackStore {
    return this.opts.store;
  }

  user(ref: unknown): StoredUser {
    const user = typeof ref === 'string' ? this.store.resolveUser(ref) : undefined;
    if (!user || user.is_bot) throw new InteractionError('unknown_user', `no such user: ${String(ref)}`);
    return user;
  }

  channel(ref: unknown): StoredChannel {
    const channel = typeof ref === 'string' ? this.store.resolveChannel(ref) : undefined;
    if (!channel) throw new InteractionError('unknown_channel', `no such channel: ${String(ref)}`);
    return channel;
  }

  private channelRef(channel: StoredChannel): { id: string; name: string } {
    return { id: channel.id, name: channel.is_im ? 'directmessage' : channel.name };
  }

  private async deliver(
    kind: InteractionKind,
    user: StoredUser,
    channel: StoredChannel | undefined,
    form: URLSearchParams,
  ): Promise<BotAnswer & { deliveryId: string; transport: DeliveryTransport }> {
    const overSocket = this.overSocket(kind, form);
    const transport: DeliveryTransport = overSocket ? 'socket_mode' : 'http';
    const answer = overSocket
      ? await overSocket
      : await sendSignedForm(this.opts.botUrl(), form, {
          signingSecret: this.opts.signingSecret,
          timestampSec: Math.floor(this.store.now() / 1000),
          timeoutMs: this.opts.timeoutMs,
        });
    const delivery = this.store.recordDelivery({
      kind,
      user: user.id,
      ...(channel ? { channel: channel.id } : {}),
      transport,
      status: answer.status,
      ...(answer.error ? { error: answer.error } : {}),
      durationMs: answer.durationMs,
    });
    if (answer.error) {
      this.opts.log.warn(
        {
          kind,
          transport,
          status: answer.status,
          error: answer.error,
          ...(overSocket ? {} : { botUrl: this.opts.botUrl() }),
        },
        'slack-local: the bot did not answer as Slack expects',
      );
    }
    return { ...answer, deliveryId: delivery.id, transport };
  }

  /**
   * The same delivery as a Socket Mode envelope, when an app is connected: the payload Slack puts
   * in the envelope is the form's fields (slash commands) or the interaction's JSON. An ack
   * counts as Slack counts a 2xx; its payload as the response body.
   */
  private overSocket(kind: InteractionKind, form: URLSearchParams): Promise<BotAnswer> | undefined {
    const hub = this.opts.socketMode;
    if (!hub?.connected()) return undefined;
    const command = kind === 'slash_command';
    const payload: unknown = command
      ? Object.fromEntries(form.entries())
      : (JSON.parse(form.get('payload') ?? '{}') as unknown);
    // Only slash commands and modal submissions have an answer Slack reads from the ack.
    const accepts = command || (isObject(payload) && payload.type === 'view_submission');
    const sent = hub.deliver(command ? 'slash_commands' : 'interactive', payload, accepts);
    if (!sent) return undefined;
    return sent.then((outcome) => ({
      status: outcome.acked ? 200 : null,
      body: outcome.payload === undefined ? '' : outcome.payload,
      contentType: outcome.payload === undefined ? undefined : 'application/json',
      ...(outcome.error ? { error: outcome.error } : {}),
      durationMs: outcome.durationMs,
    }));
  }

  private responseUrl(record: {
    kind: InteractionKind;
    channel: string;
    user: string;
    messageTs?: string;
    isEphemeral?: boolean;
  }): string {
    const created = this.store.createResponseUrl(record);
    return `${this.store.baseUrl}/_local/response/${created.id}`;
  }

  // ---------------------------------------------------------------- slash commands

  async command(input: {
    user: unknown;
    channel: unknown;
    command: unknown;
    text?: unknown;
  }): Promise<DeliveryResult> {
    const user = this.user(input.user);
    const channel = this.channel(input.channel);
    const command = typeof input.command === 'string' ? input.command.trim() : '';
    if (!/^\/[\w-]+$/.test(command))
      throw new InteractionError('invalid_command', 'command must look like "/qnwis"', 400);
    const text = typeof input.text === 'string' ? input.text : '';
    const form = slashCommandForm({
      verificationToken: this.store.verificationToken,
      team: this.store.team,
      channel: this.channelRef(channel),
      user: { id: user.id, name: user.name },
      command,
      text,
      apiAppId: this.store.bot.app_id,
      responseUrl: this.responseUrl({ kind: 'slash_command', channel: channel.id, user: user.id }),
      triggerId: this.store.createTrigger(user.id),
    });
    const answer = await this.deliver('slash_command', user, channel, form);
    if (answer.error) {
      this.slackbotSays(channel, user, `${command} failed with the error "${answer.error}"`);
    } else {
      this.applyImmediateCommandResponse(command, channel, user, answer.body);
    }
    return this.result(answer);
  }

  /** A 2xx body to a slash command is shown right away (ephemeral unless `response_type: in_channel`). */
  private applyImmediateCommandResponse(
    command: string,
    channel: StoredChannel,
    user: StoredUser,
    body: unknown,
  ): void {
    let message: Json | undefined;
    if (typeof body === 'string') {
      if (body.trim() !== '') message = { text: body };
    } else if (isObject(body)) {
      message = body;
    }
    if (!message || (message.text === undefined && message.blocks === undefined)) return;
    const text = typeof message.text === 'string' ? message.text : '';
    const check = checkMessageContent({ text, blocks: message.blocks });
    if (!check.ok) {
      this.slackbotSays(channel, user, `${command} failed with the error "${check.error}"`);
      return;
    }
    const blocks =
      Array.isArray(message.blocks) && message.blocks.length > 0 ? (message.blocks as Json[]) : undefined;
    this.store.addMessage({
      channel: channel.id,
      user: this.store.bot.user_id,
      bot_id: this.store.bot.bot_id,
      app_id: this.store.bot.app_id,
      text,
      ...(blocks ? { blocks } : {}),
      ...(message.response_type === 'in_channel' ? {} : { ephemeral_user: user.id }),
    });
  }

  private slackbotSays(channel: StoredChannel, user: StoredUser, text: string): void {
    this.store.addMessage({ channel: channel.id, user: SLACKBOT.user_id, text, ephemeral_user: user.id });
  }

  // ---------------------------------------------------------------- block_actions

  async action(input: {
    user: unknown;
    channel: unknown;
    ts: unknown;
    action_id: unknown;
    block_id?: unknown;
    value?: unknown;
  }): Promise<DeliveryResult> {
    const user = this.user(input.user);
    const channel = this.channel(input.channel);
    const ts = typeof input.ts === 'string' ? input.ts : '';
    const message = this.store.findMessage(channel.id, ts, user.id);
    if (!message) throw new InteractionError('message_not_found', `no message ${ts} in ${channel.id}`);
    const found = findElement(
      message,
      String(input.action_id ?? ''),
      typeof input.block_id === 'string' ? input.block_id : undefined,
    );
    if (!found)
      throw new InteractionError('action_not_found', `no element with action_id ${String(input.action_id)}`);
    const { action, stateValues } = buildAction(
      found.element,
      found.blockId,
      input.value,
      formatTs(Math.floor(this.store.now() * 1000)),
    );
    const isEphemeral = message.ephemeral_user !== undefined;
    const payload = blockActionsPayload({
      verificationToken: this.store.verificationToken,
      team: this.store.team,
      user: { id: user.id, name: user.name },
      apiAppId: this.store.bot.app_id,
      triggerId: this.store.createTrigger(user.id),
      channel: this.channelRef(channel),
      message: isEphemeral ? undefined : this.store.toSlackMessage(message),
      messageTs: message.ts,
      threadTs: message.thread_ts,
      isEphemeral,
      responseUrl: this.responseUrl({
        kind: 'block_actions',
        channel: channel.id,
        user: user.id,
        messageTs: message.ts,
        isEphemeral,
      }),
      action,
      stateValues,
    });
    const answer = await this.deliver('block_actions', user, channel, interactionForm(payload));
    return this.result(answer);
  }

  // ---------------------------------------------------------------- modals

  private openView(user: StoredUser, viewId: unknown): StoredView {
    const stored = typeof viewId === 'string' ? this.store.getView(viewId) : undefined;
    if (!stored?.open || stored.user !== user.id)
      throw new InteractionError('view_not_found', `no open view ${String(viewId)} for ${user.id}`);
    return stored;
  }

  /**
   * Submits a modal. `values` maps block_id → action_id → what the person entered (a string, or a
   * list for multi-selects / checkboxes). Required inputs left empty are refused before anything
   * is sent, as Slack's client does.
   */
  async submitView(input: { user: unknown; view_id: unknown; values?: unknown }): Promise<ViewSubmitResult> {
    const user = this.user(input.user);
    const stored = this.openView(user, input.view_id);
    const supplied: Values = isObject(input.values) ? (input.values as Values) : {};
    const { state, missing } = viewState(stored.view, supplied);
    if (Object.keys(missing).length > 0) {
      return { status: null, body: null, view_closed: false, errors: missing };
    }
    const payload = viewSubmissionPayload({
      verificationToken: this.store.verificationToken,
      team: this.store.team,
      user: { id: user.id, name: user.name },
      apiAppId: this.store.bot.app_id,
      triggerId: this.store.createTrigger(user.id),
      view: this.store.viewObject(stored, state),
    });
    const answer = await this.deliver('view_submission', user, undefined, interactionForm(payload));
    const base = this.result(answer);
    if (answer.error) return { ...base, view_closed: false };
    const body = isObject(answer.body) ? answer.body : {};
    switch (body.response_action) {
      case 'errors':
        return {
          ...base,
          view_closed: false,
          errors: isObject(body.errors) ? (body.errors as Record<string, string>) : {},
        };
      case 'update':
      case 'push': {
        const check = validateView(body.view);
        if (!check.ok) return { ...base, view_closed: false, error: check.error };
        const next =
          body.response_action === 'update'
            ? this.store.updateView(stored, body.view as Json)
            : this.store.openView(user.id, body.view as Json, stored);
        return { ...base, view_closed: false, view: this.store.viewObject(next) };
      }
      case 'clear':
        for (const v of this.store.openViews(user.id)) this.store.closeView(v);
        return { ...base, view_closed: true };
      default:
        this.store.closeView(stored);
        return { ...base, view_closed: true };
    }
  }

  /** The person closes a modal; with `notify_on_close` the app gets a `view_closed` payload. */
  async closeView(input: { user: unknown; view_id: unknown }): Promise<DeliveryResult> {
    const user = this.user(input.user);
    const stored = this.openView(user, input.view_id);
    this.store.closeView(stored);
    if (stored.view.notify_on_close !== true) return { status: null, body: null };
    const payload = {
      type: 'view_closed',
      team: { id: this.store.team.id, domain: this.store.team.domain },
      user: { id: user.id, username: user.name, name: user.name, team_id: this.store.team.id },
      api_app_id: this.store.bot.app_id,
      token: this.store.verificationToken,
      view: this.store.viewObject(stored),
      is_cleared: false,
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.result(await this.deliver('view_submission', user, undefined, interactionForm(payload)));
  }

  private result(answer: BotAnswer & { deliveryId: string; transport: DeliveryTransport }): DeliveryResult {
    return {
      status: answer.status,
      body: answer.body,
      transport: answer.transport,
      ...(answer.error ? { error: answer.error } : {}),
      delivery_id: answer.deliveryId,
    };
  }

  // ---------------------------------------------------------------- response_url

  /**
   * `POST /_local/response/<id>` with Slack's JSON body (`text`, `blocks`, `response_type`,
   * `replace_original`, `delete_original`, `thread_ts`). Usable 5 times within 30 minutes; then
   * 404 `used_url` / `expired_url`.
   */
  respond(id: string, body: unknown): { status: number; body: Json } {
    const record = this.store.getResponseUrl(id);
    if (!record) return { status: 404, body: { ok: false, error: 'invalid_url' } };
    if (this.store.now() - record.createdAtMs > RESPONSE_URL_TTL_MS)
      return { status: 404, body: { ok: false, error: 'expired_url' } };
    if (record.uses >= RESPONSE_URL_MAX_USES) return { status: 404, body: { ok: false, error: 'used_url' } };
    if (!isObject(body)) return { status: 400, body: { ok: false, error: 'invalid_payload' } };
    record.uses += 1;

    const channel = this.store.getChannel(record.channel);
    if (!channel) return { status: 404, body: { ok: false, error: 'channel_not_found' } };
    const original =
      record.messageTs !== undefined
        ? this.store.findMessage(
            record.channel,
            record.messageTs,
            record.isEphemeral ? record.user : undefined,
          )
        : undefined;

    if (body.delete_original === true || body.delete_original === 'true') {
      if (!original) return { status: 404, body: { ok: false, error: 'message_not_found' } };
      this.store.deleteMessage(original);
      return { status: 200, body: { ok: true } };
    }

    const text = typeof body.text === 'string' ? body.text : undefined;
    const blocks = Array.isArray(body.blocks) ? (body.blocks as Json[]) : undefined;
    if (!text && !blocks?.length) return { status: 400, body: { ok: false, error: 'no_text' } };
    const check = checkMessageContent({ text, blocks });
    if (!check.ok) {
      const errors = check.errors;
      return {
        status: 400,
        body: {
          ok: false,
          error: check.error,
          ...(errors.length ? { response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } } : {}),
        },
      };
    }

    if ((body.replace_original === true || body.replace_original === 'true') && original) {
      replaceMessage(this.store, original, text ?? '', blocks ?? []);
      return { status: 200, body: { ok: true } };
    }

    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    const inChannel = body.response_type === 'in_channel';
    this.store.addMessage({
      channel: channel.id,
      user: this.store.bot.user_id,
      bot_id: this.store.bot.bot_id,
      app_id: this.store.bot.app_id,
      text: text ?? '',
      ...(blocks?.length ? { blocks } : {}),
      ...(threadTs && this.store.findMessage(channel.id, threadTs) ? { thread_ts: threadTs } : {}),
      ...(inChannel ? {} : { ephemeral_user: record.user }),
    });
    return { status: 200, body: { ok: true } };
  }
}

/** replace_original: the message keeps its ts; text and blocks are replaced, with no "(edited)". */
function replaceMessage(store: SlackStore, message: StoredMessage, text: string, blocks: Json[]): void {
  store.updateMessage(message, { text, blocks }, store.bot.user_id);
  delete message.edited;
}

// ------------------------------------------------------------------ helpers (pure)

interface FoundElement {
  element: Json;
  blockId: string;
}

/** The interactive element with `actionId` in a message's blocks (actions, section accessory, input). */
export function findElement(
  message: StoredMessage,
  actionId: string,
  blockId?: string,
): FoundElement | undefined {
  for (const block of message.blocks ?? []) {
    const id = typeof block.block_id === 'string' ? block.block_id : '';
    if (blockId !== undefined && id !== blockId) continue;
    const candidates: unknown[] = [];
    if (Array.isArray(block.elements) && (block.type === 'actions' || block.type === 'context_actions'))
      candidates.push(...block.elements);
    if (block.accessory !== undefined) candidates.push(block.accessory);
    if (block.element !== undefined) candidates.push(block.element);
    for (const candidate of candidates) {
      if (isObject(candidate) && candidate.action_id === actionId) return { element: candidate, blockId: id };
    }
  }
  return undefined;
}

function optionsOf(element: Json): Json[] {
  if (Array.isArray(element.options)) return element.options.filter(isObject);
  if (Array.isArray(element.option_groups))
    return element.option_groups.flatMap((g) =>
      isObject(g) && Array.isArray(g.options) ? g.options.filter(isObject) : [],
    );
  return [];
}

/** The `actions[0]` entry Slack sends for a clicked / chosen element, and the message's state. */
export function buildAction(
  element: Json,
  blockId: string,
  value: unknown,
  actionTs: string,
): { action: BlockAction; stateValues: Record<string, unknown> } {
  const type = String(element.type);
  const actionId = String(element.action_id);
  const base = { action_id: actionId, block_id: blockId };
  if (type === 'button') {
    const action: BlockAction = {
      ...base,
      text: element.text,
      ...(typeof element.value === 'string' ? { value: element.value } : {}),
      ...(typeof element.style === 'string' ? { style: element.style } : {}),
      type: 'button',
      action_ts: actionTs,
    };
    return { action, stateValues: {} };
  }
  if (type === 'static_select' || type === 'overflow' || type === 'radio_buttons') {
    const options = optionsOf(element);
    const selected = options.find((o) => o.value === value) ?? options[0] ?? null;
    const action: BlockAction = {
      type,
      ...base,
      selected_option: selected,
      ...(element.placeholder ? { placeholder: element.placeholder } : {}),
      action_ts: actionTs,
    };
    const stateValues =
      type === 'overflow' ? {} : { [blockId]: { [actionId]: { type, selected_option: selected } } };
    return { action, stateValues };
  }
  // Pickers send what was picked as Slack does (`selected_user`, `selected_channel`, …), not a value.
  const picked: Record<string, string> = {
    users_select: 'selected_user',
    conversations_select: 'selected_conversation',
    channels_select: 'selected_channel',
  };
  const pickedKey = picked[type];
  if (pickedKey) {
    const chosen = typeof value === 'string' ? value : null;
    const action = { type, ...base, [pickedKey]: chosen, action_ts: actionTs } as unknown as BlockAction;
    return { action, stateValues: { [blockId]: { [actionId]: { type, [pickedKey]: chosen } } } };
  }
  const action: BlockAction = {
    type,
    ...base,
    ...(typeof value === 'string' ? { value } : {}),
    action_ts: actionTs,
  };
  return { action, stateValues: {} };
}

/** view.state.values from what the person entered, and the required inputs left empty. */
export function viewState(view: Json, supplied: Values): { state: Json; missing: Record<string, string> } {
  const state: Json = {};
  const missing: Record<string, string> = {};
  const blocks = Array.isArray(view.blocks) ? view.blocks.filter(isObject) : [];
  for (const block of blocks) {
    if (block.type !== 'input' || !isObject(block.element)) continue;
    const blockId = String(block.block_id);
    const element = block.element;
    const actionId = String(element.action_id);
    const raw = supplied[blockId]?.[actionId];
    const empty = raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0);
    if (empty && block.optional !== true) missing[blockId] = 'Please complete this required field.';
    state[blockId] = { [actionId]: elementState(element, empty ? undefined : raw) };
  }
  return { state, missing };
}

function elementState(element: Json, raw: unknown): Json {
  const type = String(element.type);
  const options = optionsOf(element);
  const values = Array.isArray(raw) ? raw.map(String) : raw === undefined ? [] : [String(raw)];
  switch (type) {
    case 'static_select':
    case 'radio_buttons':
      return { type, selected_option: options.find((o) => o.value === values[0]) ?? null };
    case 'multi_static_select':
    case 'checkboxes':
      return { type, selected_options: options.filter((o) => values.includes(String(o.value))) };
    case 'users_select':
      return { type, selected_user: values[0] ?? null };
    case 'multi_users_select':
      return { type, selected_users: values };
    case 'conversations_select':
      return { type, selected_conversation: values[0] ?? null };
    case 'channels_select':
      return { type, selected_channel: values[0] ?? null };
    case 'datepicker':
      return { type, selected_date: values[0] ?? null };
    case 'timepicker':
      return { type, selected_time: values[0] ?? null };
    default:
      return { type, value: values[0] ?? null };
  }
}
