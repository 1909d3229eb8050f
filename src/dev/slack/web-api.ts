/**
 * Slack's Web API under `/api/<method>`: form-encoded (what `@slack/web-api` sends), JSON and
 * multipart bodies, `Authorization: Bearer` (or a `token` form field), Slack's envelope
 * (`{ ok: true, … }` / `{ ok: false, error }`, HTTP 200; 429 + `Retry-After` when rate limited).
 *
 * The methods are plain functions of (args, context) so they can be called without HTTP; the
 * router at the bottom is only transport.
 */
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from '../../observability/logger.js';
import { type ContentCheck, checkMessageContent, validateBlocks, validateView } from './blocks-validate.js';
import { parseTs } from './ids.js';
import type { TokenBucketLimiter } from './rate-limit.js';
import type { Json, SlackStore, StoredChannel, StoredMessage, StoredUser } from './store.js';

/** A Slack Web API error: `{ ok: false, error, ...extra }`, HTTP `status` (200 unless rate limited). */
export class SlackApiError extends Error {
  readonly error: string;
  readonly extra: Json;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    error: string,
    extra: Json = {},
    http: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(error);
    this.name = 'SlackApiError';
    this.error = error;
    this.extra = extra;
    this.status = http.status ?? 200;
    this.headers = http.headers ?? {};
  }
}

export interface WebApiContext {
  store: SlackStore;
  limiter: TokenBucketLimiter;
  /** Accepted tokens; undefined or empty: any `xoxb-…` / `xapp-…` token. */
  tokens: readonly string[] | undefined;
  log: Logger;
  /** Socket Mode (socket-mode.ts): hands out the URLs of `apps.connections.open`. */
  socketMode?: { openUrl(): string };
}

export interface WebApiResult {
  status: number;
  headers: Record<string, string>;
  body: Json;
}

type Args = Record<string, unknown>;
type Method = (args: Args, ctx: WebApiContext) => Json | Promise<Json>;

/** Scopes reported in `x-oauth-scopes` (WebClient copies them into `response_metadata.scopes`). */
const BOT_SCOPES = [
  'chat:write',
  'chat:write.customize',
  'commands',
  'channels:read',
  'channels:history',
  'groups:read',
  'im:write',
  'files:write',
  'files:read',
  'users:read',
  'users:read.email',
  'usergroups:read',
].join(',');

// ------------------------------------------------------------------ argument helpers

function str(args: Args, key: string): string | undefined {
  const value = args[key];
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function bool(args: Args, key: string): boolean {
  const value = args[key];
  return value === true || value === 1 || value === 'true' || value === '1';
}

function invalidArguments(...messages: string[]): SlackApiError {
  return new SlackApiError('invalid_arguments', {
    response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) },
  });
}

function required(args: Args, key: string): string {
  const value = str(args, key);
  if (value === undefined) throw invalidArguments(`missing required field: ${key}`);
  return value;
}

/** A JSON-encoded argument (string) or an already-parsed value (JSON bodies). */
function jsonArg(args: Args, key: string, errorCode: string): unknown {
  const value = args[key];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new SlackApiError(errorCode);
  }
}

function contentError(
  check: Exclude<ContentCheck, { ok: true }>,
  errorOverride?: string,
  pointerPrefix = '',
): SlackApiError {
  const errors = check.errors.map((e) => e.replace('[json-pointer:', `[json-pointer:${pointerPrefix}`));
  return new SlackApiError(
    errorOverride ?? check.error,
    errors.length > 0 ? { errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } } : {},
  );
}

function conversation(ctx: WebApiContext, args: Args, key = 'channel'): StoredChannel {
  const ref = str(args, key);
  if (ref === undefined) throw new SlackApiError('channel_not_found');
  const channel = ctx.store.resolveChannel(ref);
  if (!channel) throw new SlackApiError('channel_not_found');
  return channel;
}

function person(ctx: WebApiContext, args: Args, key = 'user'): StoredUser {
  const ref = str(args, key);
  const user = ref === undefined ? undefined : ctx.store.getUser(ref);
  if (!user) throw new SlackApiError('user_not_found');
  return user;
}

interface MessageContent {
  text: string | undefined;
  blocks: Json[] | undefined;
  attachments: unknown[] | undefined;
}

/** text / blocks / attachments of chat.postMessage-like calls, validated like Slack does. */
function messageContent(args: Args, { requireSome }: { requireSome: boolean }): MessageContent {
  const text = typeof args.text === 'string' ? args.text : str(args, 'text');
  const blocks = jsonArg(args, 'blocks', 'invalid_blocks_format');
  if (blocks !== undefined && !Array.isArray(blocks)) throw new SlackApiError('invalid_blocks_format');
  const attachments = jsonArg(args, 'attachments', 'invalid_attachments');
  if (attachments !== undefined && !Array.isArray(attachments))
    throw new SlackApiError('invalid_attachments');
  const hasBlocks = Array.isArray(blocks) && blocks.length > 0;
  if (requireSome && !text && !hasBlocks && !(Array.isArray(attachments) && attachments.length > 0))
    throw new SlackApiError('no_text');
  const check = checkMessageContent({ text, blocks: hasBlocks ? blocks : undefined });
  if (!check.ok) throw contentError(check);
  return { text, blocks: blocks as Json[] | undefined, attachments: attachments as unknown[] | undefined };
}

function threadParent(
  ctx: WebApiContext,
  channel: StoredChannel,
  threadTs: string | undefined,
): string | undefined {
  if (threadTs === undefined) return undefined;
  if (parseTs(threadTs) === undefined) throw new SlackApiError('invalid_thread_ts');
  const parent = ctx.store.findMessage(channel.id, threadTs);
  if (!parent) throw new SlackApiError('thread_not_found');
  return parent.thread_ts ?? parent.ts;
}

function botMessage(ctx: WebApiContext): Pick<StoredMessage, 'user' | 'bot_id' | 'app_id'> {
  return { user: ctx.store.bot.user_id, bot_id: ctx.store.bot.bot_id, app_id: ctx.store.bot.app_id };
}

// ------------------------------------------------------------------ object shapes

export function channelObject(store: SlackStore, channel: StoredChannel, withMembers = false): Json {
  if (channel.is_im) {
    return {
      id: channel.id,
      created: channel.created,
      is_im: true,
      is_org_shared: false,
      user: channel.im_user,
      is_user_deleted: false,
      priority: 0,
    };
  }
  const members = store.listUsers().filter((u) => u.id !== 'USLACKBOT').length;
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: false,
    created: channel.created,
    is_archived: false,
    is_general: channel.name === 'general',
    unlinked: 0,
    name_normalized: channel.name,
    is_shared: false,
    is_org_shared: false,
    is_member: true,
    topic: { value: channel.topic, creator: '', last_set: 0 },
    purpose: { value: channel.purpose, creator: '', last_set: 0 },
    ...(withMembers ? { num_members: members } : {}),
  };
}

export function userObject(store: SlackStore, user: StoredUser): Json {
  const initials = user.real_name
    .split(/\s+/)
    .map((w) => w[0] ?? '')
    .join('')
    .slice(0, 2);
  return {
    id: user.id,
    team_id: store.team.id,
    name: user.name,
    deleted: false,
    color: user.color.replace('#', ''),
    real_name: user.real_name,
    tz: 'Asia/Qatar',
    tz_label: 'Arabia Standard Time',
    tz_offset: 10800,
    profile: {
      title: user.title,
      phone: '',
      skype: '',
      real_name: user.real_name,
      real_name_normalized: user.real_name,
      display_name: user.is_bot ? '' : user.name,
      display_name_normalized: user.is_bot ? '' : user.name,
      status_text: '',
      status_emoji: '',
      avatar_hash: initials.toLowerCase(),
      ...(user.email ? { email: user.email } : {}),
      ...(user.bot_id ? { bot_id: user.bot_id, api_app_id: user.app_id, always_active: true } : {}),
      first_name: user.real_name.split(' ')[0] ?? '',
      last_name: user.real_name.split(' ').slice(1).join(' '),
      team: store.team.id,
    },
    is_admin: false,
    is_owner: false,
    is_primary_owner: false,
    is_restricted: false,
    is_ultra_restricted: false,
    is_bot: user.is_bot,
    is_app_user: false,
    updated: Math.floor(store.now() / 1000),
    is_email_confirmed: !user.is_bot,
  };
}

export function permalink(store: SlackStore, channel: string, message: StoredMessage): string {
  const base = `${store.baseUrl}/archives/${channel}/p${message.ts.replace('.', '')}`;
  return message.thread_ts && message.thread_ts !== message.ts
    ? `${base}?thread_ts=${message.thread_ts}&cid=${channel}`
    : base;
}

// ------------------------------------------------------------------ methods

const methods: Record<string, Method> = {
  'api.test': (args) => ({ args }),

  'apps.connections.open': (_args, ctx) => {
    if (!ctx.socketMode) throw new SlackApiError('unknown_method', { req_method: 'apps.connections.open' });
    return { url: ctx.socketMode.openUrl() };
  },

  'auth.test': (_args, { store }) => ({
    url: `${store.baseUrl}/`,
    team: store.team.name,
    user: store.bot.name,
    team_id: store.team.id,
    user_id: store.bot.user_id,
    bot_id: store.bot.bot_id,
    is_enterprise_install: false,
  }),

  'chat.postMessage': (args, ctx) => {
    const channel = conversation(ctx, args);
    const decision = ctx.limiter.take(channel.id);
    if (!decision.allowed) {
      throw new SlackApiError(
        'ratelimited',
        {},
        { status: 429, headers: { 'Retry-After': String(decision.retryAfterSec) } },
      );
    }
    const content = messageContent(args, { requireSome: true });
    const threadTs = threadParent(ctx, channel, str(args, 'thread_ts'));
    const message = ctx.store.addMessage({
      channel: channel.id,
      ...botMessage(ctx),
      text: content.text ?? '',
      ...(content.blocks?.length ? { blocks: content.blocks } : {}),
      ...(content.attachments ? { attachments: content.attachments } : {}),
      ...(threadTs ? { thread_ts: threadTs } : {}),
      ...(threadTs && bool(args, 'reply_broadcast') ? { subtype: 'thread_broadcast' as const } : {}),
      ...(str(args, 'username') ? { username: str(args, 'username') } : {}),
      ...(args.mrkdwn !== undefined ? { mrkdwn: !(args.mrkdwn === false || args.mrkdwn === 'false') } : {}),
      ...(args.metadata !== undefined
        ? { metadata: jsonArg(args, 'metadata', 'invalid_metadata_format') }
        : {}),
    });
    return { channel: channel.id, ts: message.ts, message: ctx.store.toSlackMessage(message) };
  },

  'chat.update': (args, ctx) => {
    const channel = conversation(ctx, args);
    const ts = str(args, 'ts');
    if (ts === undefined) throw new SlackApiError('message_not_found');
    const message = ctx.store.findMessage(channel.id, ts);
    if (!message) throw new SlackApiError('message_not_found');
    if (message.user !== ctx.store.bot.user_id) throw new SlackApiError('cant_update_message');
    const content = messageContent(args, { requireSome: false });
    if (content.text === undefined && content.blocks === undefined && content.attachments === undefined)
      throw new SlackApiError('no_text');
    ctx.store.updateMessage(
      message,
      {
        ...(content.text !== undefined ? { text: content.text } : {}),
        ...(content.blocks !== undefined ? { blocks: content.blocks } : {}),
        ...(content.attachments !== undefined ? { attachments: content.attachments } : {}),
        ...(args.metadata !== undefined
          ? { metadata: jsonArg(args, 'metadata', 'invalid_metadata_format') }
          : {}),
      },
      ctx.store.bot.user_id,
    );
    const out = ctx.store.toSlackMessage(message);
    return { channel: channel.id, ts: message.ts, text: message.text, message: out };
  },

  'chat.delete': (args, ctx) => {
    const channel = conversation(ctx, args);
    const ts = str(args, 'ts');
    const message = ts === undefined ? undefined : ctx.store.findMessage(channel.id, ts);
    if (!message) throw new SlackApiError('message_not_found');
    if (message.user !== ctx.store.bot.user_id) throw new SlackApiError('cant_delete_message');
    ctx.store.deleteMessage(message);
    return { channel: channel.id, ts: message.ts };
  },

  'chat.postEphemeral': (args, ctx) => {
    const channel = conversation(ctx, args);
    const user = person(ctx, args);
    const content = messageContent(args, { requireSome: true });
    const threadTs = str(args, 'thread_ts');
    const message = ctx.store.addMessage({
      channel: channel.id,
      ...botMessage(ctx),
      text: content.text ?? '',
      ...(content.blocks?.length ? { blocks: content.blocks } : {}),
      ...(threadTs ? { thread_ts: threadParent(ctx, channel, threadTs) } : {}),
      ephemeral_user: user.id,
    });
    return { message_ts: message.ts };
  },

  'chat.getPermalink': (args, ctx) => {
    const channel = conversation(ctx, args);
    const ts = str(args, 'message_ts');
    const message = ts === undefined ? undefined : ctx.store.findMessage(channel.id, ts);
    if (!message) throw new SlackApiError('message_not_found');
    return { channel: channel.id, permalink: permalink(ctx.store, channel.id, message) };
  },

  'conversations.info': (args, ctx) => {
    const channel = conversation(ctx, args);
    return { channel: channelObject(ctx.store, channel, bool(args, 'include_num_members')) };
  },

  'conversations.list': (_args, ctx) => ({
    channels: ctx.store
      .listChannels()
      .filter((c) => !c.is_im)
      .map((c) => channelObject(ctx.store, c)),
    response_metadata: { next_cursor: '' },
  }),

  'conversations.open': (args, ctx) => {
    const users = (str(args, 'users') ?? '').split(',').filter(Boolean);
    const first = users[0];
    if (users.length !== 1 || !first) throw invalidArguments('exactly one user is supported here');
    const user = ctx.store.getUser(first);
    if (!user || user.is_bot) throw new SlackApiError('user_not_found');
    return { channel: { id: ctx.store.dmWith(user.id).id } };
  },

  'conversations.history': (args, ctx) => {
    const channel = conversation(ctx, args);
    const limit = Math.min(Number(str(args, 'limit') ?? 100) || 100, 1000);
    const top = ctx.store
      .allMessages(channel.id)
      .filter(
        (m) =>
          !m.ephemeral_user && (!m.thread_ts || m.thread_ts === m.ts || m.subtype === 'thread_broadcast'),
      )
      .reverse()
      .slice(0, limit);
    return {
      messages: top.map((m) => ctx.store.toSlackMessage(m)),
      has_more: false,
      pin_count: 0,
      response_metadata: { next_cursor: '' },
    };
  },

  'conversations.replies': (args, ctx) => {
    const channel = conversation(ctx, args);
    const ts = required(args, 'ts');
    const parent = ctx.store.findMessage(channel.id, ts);
    if (!parent) throw new SlackApiError('thread_not_found');
    const rootTs = parent.thread_ts ?? parent.ts;
    const root = ctx.store.findMessage(channel.id, rootTs) ?? parent;
    return {
      messages: [root, ...ctx.store.replies(channel.id, rootTs)].map((m) => ctx.store.toSlackMessage(m)),
      has_more: false,
      response_metadata: { next_cursor: '' },
    };
  },

  'users.info': (args, ctx) => ({ user: userObject(ctx.store, person(ctx, args)) }),

  'users.list': (_args, ctx) => ({
    members: ctx.store.listUsers().map((u) => userObject(ctx.store, u)),
    cache_ts: Math.floor(ctx.store.now() / 1000),
    response_metadata: { next_cursor: '' },
  }),

  'users.lookupByEmail': (args, ctx) => {
    const email = required(args, 'email').toLowerCase();
    const user = ctx.store.listUsers().find((u) => u.email?.toLowerCase() === email);
    if (!user) throw new SlackApiError('users_not_found');
    return { user: userObject(ctx.store, user) };
  },

  'usergroups.list': (args, ctx) => {
    const includeUsers = bool(args, 'include_users');
    const created = Math.floor(ctx.store.now() / 1000);
    return {
      usergroups: ctx.store.usergroups().map((g) => ({
        id: g.id,
        team_id: ctx.store.team.id,
        is_usergroup: true,
        is_subteam: true,
        name: g.name,
        description: g.description,
        handle: g.handle,
        is_external: false,
        date_create: created,
        date_update: created,
        date_delete: 0,
        auto_type: null,
        created_by: 'U0MANAGER1',
        updated_by: 'U0MANAGER1',
        deleted_by: null,
        prefs: { channels: [], groups: [] },
        user_count: g.users.length,
        ...(includeUsers ? { users: g.users } : {}),
      })),
    };
  },

  'usergroups.users.list': (args, ctx) => {
    const id = required(args, 'usergroup');
    const group = ctx.store.usergroups().find((g) => g.id === id);
    if (!group) throw new SlackApiError('no_such_subteam');
    return { users: group.users };
  },

  'views.open': (args, ctx) => {
    const triggerId = required(args, 'trigger_id');
    const view = parseView(args);
    const trigger = ctx.store.useTrigger(triggerId);
    if (!trigger.ok) throw new SlackApiError(trigger.error);
    const stored = ctx.store.openView(trigger.user, view);
    return { view: ctx.store.viewObject(stored) };
  },

  'views.push': (args, ctx) => {
    const triggerId = required(args, 'trigger_id');
    const view = parseView(args);
    const trigger = ctx.store.useTrigger(triggerId);
    if (!trigger.ok) throw new SlackApiError(trigger.error);
    const stack = ctx.store.openViews(trigger.user);
    if (stack.length >= 3) throw new SlackApiError('push_limit_reached');
    const stored = ctx.store.openView(trigger.user, view, stack[stack.length - 1]);
    return { view: ctx.store.viewObject(stored) };
  },

  'views.update': (args, ctx) => {
    const viewId = str(args, 'view_id');
    const externalId = str(args, 'external_id');
    if (viewId === undefined && externalId === undefined)
      throw invalidArguments('missing required field: view_id or external_id');
    const view = parseView(args);
    const stored = viewId ? ctx.store.getView(viewId) : ctx.store.findViewByExternalId(externalId ?? '');
    if (!stored) throw new SlackApiError('not_found');
    const hash = str(args, 'hash');
    if (hash !== undefined && hash !== stored.hash) throw new SlackApiError('hash_conflict');
    ctx.store.updateView(stored, view);
    return { view: ctx.store.viewObject(stored) };
  },

  'files.getUploadURLExternal': (args, ctx) => {
    const filename = required(args, 'filename');
    const lengthArg = required(args, 'length');
    const length = Number(lengthArg);
    if (!Number.isInteger(length) || length < 0)
      throw invalidArguments('length must be a non-negative integer');
    const altTxt = str(args, 'alt_txt') ?? str(args, 'alt_text');
    const file = ctx.store.createFile({
      name: filename,
      length,
      user: ctx.store.bot.user_id,
      ...(altTxt ? { alt_txt: altTxt } : {}),
    });
    return { upload_url: `${ctx.store.baseUrl}/_local/upload/${file.id}`, file_id: file.id };
  },

  'files.completeUploadExternal': (args, ctx) => {
    const files = jsonArg(args, 'files', 'invalid_arguments');
    if (!Array.isArray(files) || files.length === 0) throw invalidArguments('missing required field: files');
    const entries = files.map((f) => {
      const entry = f as { id?: unknown; title?: unknown };
      const file = typeof entry.id === 'string' ? ctx.store.getFile(entry.id) : undefined;
      if (!file) throw new SlackApiError('file_not_found');
      return { file, title: typeof entry.title === 'string' && entry.title ? entry.title : undefined };
    });
    const channelRef = str(args, 'channel_id') ?? str(args, 'channels')?.split(',')[0];
    const channel = channelRef === undefined ? undefined : ctx.store.resolveChannel(channelRef);
    if (channelRef !== undefined && !channel) throw new SlackApiError('channel_not_found');
    const blocks = jsonArg(args, 'blocks', 'invalid_blocks_format');
    if (blocks !== undefined) {
      const check = validateBlocks(blocks, 'message');
      if (!check.ok) throw contentError(check);
    }
    for (const { file, title } of entries) {
      if (title) file.title = title;
      file.completed = true;
    }
    if (channel) {
      const threadTs = threadParent(ctx, channel, str(args, 'thread_ts'));
      const message = ctx.store.addMessage({
        channel: channel.id,
        ...botMessage(ctx),
        text: str(args, 'initial_comment') ?? '',
        ...(Array.isArray(blocks) && blocks.length ? { blocks: blocks as Json[] } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        files: entries.map((e) => e.file.id),
      });
      for (const { file } of entries) file.shares.push({ channel: channel.id, ts: message.ts });
    }
    return { files: entries.map(({ file }) => ({ id: file.id, title: file.title })) };
  },

  'files.info': (args, ctx) => {
    const id = required(args, 'file');
    if (!ctx.store.getFile(id)) throw new SlackApiError('file_not_found');
    return { file: ctx.store.fileObject(id) };
  },
};

function parseView(args: Args): Json {
  const view = jsonArg(args, 'view', 'invalid_arguments');
  if (view === undefined) throw invalidArguments('missing required field: view');
  const check = validateView(view);
  if (!check.ok) throw contentError(check, 'invalid_arguments', '/view');
  return view as Json;
}

/** Methods that answer without a token (as on slack.com). */
const NO_AUTH = new Set(['api.test']);

/** Methods that take an app-level token (`xapp-…`) and refuse any other; all others refuse one. */
const APP_LEVEL = new Set(['apps.connections.open']);

export const SUPPORTED_METHODS: readonly string[] = Object.keys(methods).sort();

export function isAcceptedToken(token: string, accepted: readonly string[] | undefined): boolean {
  if (accepted && accepted.length > 0) return accepted.includes(token);
  return /^xoxb-[\w-]+$/.test(token) || /^xapp-[\w-]+$/.test(token);
}

/** Calls one Web API method as an HTTP request would, and returns what Slack would answer. */
export async function callWebApi(
  method: string,
  args: Args,
  token: string | undefined,
  ctx: WebApiContext,
): Promise<WebApiResult> {
  const headers: Record<string, string> = {};
  const impl = Object.hasOwn(methods, method) ? methods[method] : undefined;
  try {
    if (!impl) throw new SlackApiError('unknown_method', { req_method: method });
    if (!NO_AUTH.has(method)) {
      if (!token) throw new SlackApiError('not_authed');
      if (!isAcceptedToken(token, ctx.tokens)) throw new SlackApiError('invalid_auth');
      if (APP_LEVEL.has(method) !== token.startsWith('xapp-'))
        throw new SlackApiError('not_allowed_token_type');
      headers['x-oauth-scopes'] = APP_LEVEL.has(method) ? 'connections:write' : BOT_SCOPES;
    }
    const body = await impl(args, ctx);
    return { status: 200, headers, body: { ok: true, ...body } };
  } catch (err) {
    if (err instanceof SlackApiError) {
      if (err.error !== 'ratelimited') ctx.log.debug({ method, error: err.error }, 'slack-local: api error');
      return {
        status: err.status,
        headers: { ...headers, ...err.headers },
        body: { ok: false, error: err.error, ...err.extra },
      };
    }
    ctx.log.error({ err, method }, 'slack-local: api method failed');
    return { status: 200, headers, body: { ok: false, error: 'internal_error' } };
  }
}

// ------------------------------------------------------------------ HTTP transport

/** Parses a request body into Slack method arguments: form, JSON or multipart. */
export async function parseApiBody(
  contentType: string | undefined,
  raw: Buffer | undefined,
): Promise<{ args: Args; json: boolean }> {
  if (!raw || raw.length === 0) return { args: {}, json: false };
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') {
    const parsed = JSON.parse(raw.toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new SlackApiError('invalid_json');
    return { args: parsed as Args, json: true };
  }
  if (type === 'multipart/form-data') {
    const form = await new globalThis.Request('http://local/', {
      method: 'POST',
      headers: { 'content-type': contentType ?? '' },
      body: raw,
    }).formData();
    const args: Args = {};
    for (const [key, value] of form.entries()) {
      args[key] = typeof value === 'string' ? value : Buffer.from(await value.arrayBuffer());
    }
    return { args, json: false };
  }
  return { args: Object.fromEntries(new URLSearchParams(raw.toString('utf8'))), json: false };
}

function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

export function createWebApiRouter(ctx: WebApiContext): Router {
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: '50mb' });

  router.all('/api/:method', raw, async (req: Request, res: Response) => {
    const method = String(req.params.method);
    let args: Args = { ...(req.query as Args) };
    let json = false;
    try {
      const parsed = await parseApiBody(
        req.headers['content-type'],
        Buffer.isBuffer(req.body) ? req.body : undefined,
      );
      args = { ...args, ...parsed.args };
      json = parsed.json;
    } catch {
      res.status(200).json({ ok: false, error: 'invalid_json' });
      return;
    }
    // Slack reads the token from the header, or from the form body (never from a JSON body).
    const token = bearer(req) ?? (json ? undefined : str(args, 'token'));
    delete args.token;
    const result = await callWebApi(method, args, token, ctx);
    res
      .status(result.status)
      .set(result.headers)
      .type('application/json; charset=utf-8')
      .send(JSON.stringify(result.body));
  });

  /** The upload URL handed out by files.getUploadURLExternal: raw bytes or multipart (what WebClient sends). */
  router.post('/_local/upload/:fileId', raw, async (req: Request, res: Response) => {
    const file = ctx.store.getFile(String(req.params.fileId));
    if (!file) {
      res.status(404).type('text/plain').send('file_not_found');
      return;
    }
    let data: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const type = req.headers['content-type'] ?? '';
    if (type.startsWith('multipart/form-data')) {
      const { args } = await parseApiBody(type, data);
      const part = Object.values(args).find((v): v is Buffer => Buffer.isBuffer(v));
      data = part ?? Buffer.from(String(Object.values(args)[0] ?? ''));
    }
    file.data = data;
    file.size = data.length;
    res.status(200).type('text/plain').send(`OK - ${data.length}`);
  });

  return router;
}
