/**
 * The stand-in's workspace, in memory: team, users, channels (incl. DMs with the bot), messages
 * with threads, edits and ephemeral messages, files, modal views, response_urls, trigger_ids and a
 * log of what was delivered to the bot. Every change is announced to subscribers (the page's SSE
 * stream). No HTTP here: `web-api.ts`, `interactions.ts` and `inspection.ts` are the transports.
 */
import { createTriggerId, createTsGenerator, parseTs, randomId, randomShortId } from './ids.js';
import {
  type LabRole,
  SEED_BOT,
  SEED_CHANNELS,
  SEED_TEAM,
  SEED_USERGROUPS,
  SEED_USERS,
  SEED_VERIFICATION_TOKEN,
  SLACKBOT,
} from './seed.js';

export type Json = Record<string, unknown>;

export interface StoredUser {
  id: string;
  name: string;
  real_name: string;
  email: string | undefined;
  role: LabRole | null;
  title: string;
  color: string;
  is_bot: boolean;
  bot_id?: string;
  app_id?: string;
}

export interface StoredChannel {
  id: string;
  name: string;
  is_im: boolean;
  /** For a DM: the person the bot talks to. */
  im_user?: string;
  topic: string;
  purpose: string;
  created: number;
}

export interface StoredFile {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  /** Bytes received on the upload URL (declared `length` until then). */
  size: number;
  declaredLength: number;
  user: string;
  created: number;
  data?: Buffer;
  alt_txt?: string;
  completed: boolean;
  shares: { channel: string; ts: string }[];
}

export interface StoredMessage {
  channel: string;
  ts: string;
  user: string;
  text: string;
  blocks?: Json[];
  attachments?: unknown[];
  /** Replies: the parent's ts. Parents get `thread_ts === ts` once they have a reply (as Slack does). */
  thread_ts?: string;
  subtype?: 'thread_broadcast' | 'tombstone' | 'file_share';
  bot_id?: string;
  app_id?: string;
  /** chat.postMessage `username` override (chat:write.customize). */
  username?: string;
  mrkdwn?: boolean;
  metadata?: unknown;
  edited?: { user: string; ts: string };
  files?: string[];
  /** Set on ephemeral messages: the only user who sees it. */
  ephemeral_user?: string;
}

export interface StoredView {
  id: string;
  user: string;
  view: Json;
  hash: string;
  root_view_id: string;
  previous_view_id: string | null;
  open: boolean;
}

export type InteractionKind = 'slash_command' | 'block_actions' | 'view_submission';

export interface ResponseUrlRecord {
  id: string;
  kind: InteractionKind;
  channel: string;
  user: string;
  createdAtMs: number;
  uses: number;
  /** The message whose button was clicked (block_actions): what replace/delete_original act on. */
  messageTs?: string;
  isEphemeral?: boolean;
}

export interface Delivery {
  id: string;
  kind: InteractionKind;
  user: string;
  channel?: string;
  at: string;
  /** Signed HTTP POST to the Request URL, or a Socket Mode envelope (status 200 = acked). */
  transport?: 'http' | 'socket_mode';
  /** The bot's HTTP status; null when no answer arrived (refused connection, timeout). */
  status: number | null;
  /** Slack's name for the failure as the user sees it, e.g. `operation_timeout`. */
  error?: string;
  durationMs: number;
}

export type StoreEvent =
  | { type: 'message'; channel: string; ts: string; thread_ts?: string; ephemeral_user?: string }
  | { type: 'message_deleted'; channel: string; ts: string; thread_ts?: string; ephemeral_user?: string }
  | { type: 'view'; user: string; view_id: string; action: 'opened' | 'updated' | 'pushed' | 'closed' }
  | { type: 'delivery'; delivery: Delivery }
  | { type: 'reset' };

export type StoreListener = (event: StoreEvent) => void;

/** How long a response_url lives and how often it can be used (Slack: 5 times in 30 minutes). */
export const RESPONSE_URL_MAX_USES = 5;
export const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;
/** trigger_id validity (Slack: 3 seconds). */
export const TRIGGER_TTL_MS = 3000;

export interface SlackStoreOptions {
  now?: () => number;
}

export class SlackStore {
  readonly team = SEED_TEAM;
  readonly bot = SEED_BOT;
  readonly verificationToken = SEED_VERIFICATION_TOKEN;
  readonly now: () => number;

  private users = new Map<string, StoredUser>();
  private channels = new Map<string, StoredChannel>();
  private messages = new Map<string, StoredMessage[]>();
  private files = new Map<string, StoredFile>();
  private views = new Map<string, StoredView>();
  private responseUrls = new Map<string, ResponseUrlRecord>();
  private triggers = new Map<string, { user: string; createdAtMs: number }>();
  private deliveryLog: Delivery[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly nextTs: () => string;

  constructor(options: SlackStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.nextTs = createTsGenerator(this.now);
    this.seed();
  }

  // ---------------------------------------------------------------- events

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken subscriber (a closed SSE socket) must not break the API call that changed state.
      }
    }
  }

  // ---------------------------------------------------------------- seed

  private seed(): void {
    this.users.clear();
    this.channels.clear();
    this.messages.clear();
    this.files.clear();
    this.views.clear();
    this.responseUrls.clear();
    this.triggers.clear();
    this.deliveryLog = [];
    for (const u of SEED_USERS) this.users.set(u.id, { ...u, is_bot: false });
    this.users.set(SEED_BOT.user_id, {
      id: SEED_BOT.user_id,
      name: SEED_BOT.name,
      real_name: SEED_BOT.real_name,
      email: undefined,
      role: null,
      title: 'App',
      color: SEED_BOT.color,
      is_bot: true,
      bot_id: SEED_BOT.bot_id,
      app_id: SEED_BOT.app_id,
    });
    this.users.set(SLACKBOT.user_id, {
      id: SLACKBOT.user_id,
      name: SLACKBOT.name,
      real_name: SLACKBOT.real_name,
      email: undefined,
      role: null,
      title: 'Slackbot',
      color: SLACKBOT.color,
      is_bot: true,
    });
    const created = Math.floor(this.now() / 1000);
    for (const ch of SEED_CHANNELS) {
      this.channels.set(ch.id, { ...ch, is_im: false, created });
      this.messages.set(ch.id, []);
    }
  }

  /** Back to the seed: messages, files, views, DMs and the delivery log are dropped. */
  reset(): void {
    this.seed();
    this.emit({ type: 'reset' });
  }

  // ---------------------------------------------------------------- users

  listUsers(): StoredUser[] {
    return [...this.users.values()];
  }

  getUser(id: string): StoredUser | undefined {
    return this.users.get(id);
  }

  /** By id (`U…`), name (`oncall`, `@oncall`) or email. */
  resolveUser(ref: string): StoredUser | undefined {
    const key = ref.trim().replace(/^@/, '');
    const byId = this.users.get(key);
    if (byId) return byId;
    const lower = key.toLowerCase();
    return this.listUsers().find((u) => u.name.toLowerCase() === lower || u.email?.toLowerCase() === lower);
  }

  usergroups(): { id: string; handle: string; name: string; description: string; users: string[] }[] {
    return SEED_USERGROUPS.map((g) => ({ ...g, users: [...g.users] }));
  }

  // ---------------------------------------------------------------- channels

  listChannels(): StoredChannel[] {
    return [...this.channels.values()];
  }

  getChannel(id: string): StoredChannel | undefined {
    return this.channels.get(id);
  }

  /**
   * By id (`C…`, `D…`), `#name` or `name`, like Slack's `channel` argument. `@name` or a user id
   * names the bot's DM with that person (created on first use, as chat.postMessage does).
   */
  resolveChannel(ref: string): StoredChannel | undefined {
    const key = ref.trim();
    const byId = this.channels.get(key);
    if (byId) return byId;
    if (key.startsWith('#') || !/^[UW@]/.test(key)) {
      const name = key.replace(/^#/, '').toLowerCase();
      const found = this.listChannels().find((c) => !c.is_im && c.name === name);
      if (found) return found;
    }
    if (key.startsWith('@') || /^[UW][A-Z0-9]{2,}$/.test(key)) {
      const user = this.resolveUser(key);
      if (user && !user.is_bot) return this.dmWith(user.id);
    }
    return undefined;
  }

  /** The bot's direct-message channel with a user (`D…`), created when first needed. */
  dmWith(userId: string): StoredChannel {
    const existing = this.listChannels().find((c) => c.is_im && c.im_user === userId);
    if (existing) return existing;
    const channel: StoredChannel = {
      id: `D${userId.slice(1)}`,
      name: userId,
      is_im: true,
      im_user: userId,
      topic: '',
      purpose: '',
      created: Math.floor(this.now() / 1000),
    };
    this.channels.set(channel.id, channel);
    this.messages.set(channel.id, []);
    return channel;
  }

  // ---------------------------------------------------------------- messages

  private list(channel: string): StoredMessage[] {
    let list = this.messages.get(channel);
    if (!list) {
      list = [];
      this.messages.set(channel, list);
    }
    return list;
  }

  /** Every message of a channel, oldest first (replies and ephemerals included). */
  allMessages(channel: string): StoredMessage[] {
    return [...this.list(channel)];
  }

  /** A visible (non-ephemeral) message, or the ephemeral one of `viewer` when given. */
  findMessage(channel: string, ts: string, viewer?: string): StoredMessage | undefined {
    return this.list(channel).find(
      (m) => m.ts === ts && (m.ephemeral_user === undefined || m.ephemeral_user === viewer),
    );
  }

  replies(channel: string, parentTs: string): StoredMessage[] {
    return this.list(channel).filter(
      (m) => m.thread_ts === parentTs && m.ts !== parentTs && !m.ephemeral_user,
    );
  }

  /** Adds a message; replies are attached to the thread's root (a reply's ts is resolved to its parent). */
  addMessage(input: Omit<StoredMessage, 'ts'>): StoredMessage {
    const list = this.list(input.channel);
    let threadTs = input.thread_ts;
    if (threadTs) {
      const parent = list.find((m) => m.ts === threadTs && !m.ephemeral_user);
      if (parent?.thread_ts && parent.thread_ts !== parent.ts) threadTs = parent.thread_ts;
      const root = list.find((m) => m.ts === threadTs && !m.ephemeral_user);
      if (root && !root.ephemeral_user) root.thread_ts = root.ts;
    }
    const message: StoredMessage = { ...input, ts: this.nextTs() };
    if (threadTs) message.thread_ts = threadTs;
    else delete message.thread_ts;
    if (message.blocks) message.blocks = normalizeBlocks(message.blocks);
    list.push(message);
    this.emit({
      type: 'message',
      channel: message.channel,
      ts: message.ts,
      ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      ...(message.ephemeral_user ? { ephemeral_user: message.ephemeral_user } : {}),
    });
    if (threadTs && threadTs !== message.ts && !message.ephemeral_user) {
      // The parent's reply count changed.
      this.emit({ type: 'message', channel: message.channel, ts: threadTs });
    }
    return message;
  }

  /** Replaces text/blocks of a message (chat.update, replace_original). `editor` is who edited it. */
  updateMessage(
    message: StoredMessage,
    change: { text?: string; blocks?: Json[]; attachments?: unknown[]; metadata?: unknown },
    editor: string,
  ): StoredMessage {
    if (change.text !== undefined) message.text = change.text;
    if (change.blocks !== undefined) {
      if (change.blocks.length === 0) delete message.blocks;
      else message.blocks = normalizeBlocks(change.blocks);
    }
    if (change.attachments !== undefined) message.attachments = change.attachments;
    if (change.metadata !== undefined) message.metadata = change.metadata;
    message.edited = { user: editor, ts: this.nextTs() };
    this.emit({
      type: 'message',
      channel: message.channel,
      ts: message.ts,
      ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      ...(message.ephemeral_user ? { ephemeral_user: message.ephemeral_user } : {}),
    });
    return message;
  }

  /**
   * Deletes a message. A thread root with replies stays as a tombstone ("This message was
   * deleted."), as in Slack; anything else disappears.
   */
  deleteMessage(message: StoredMessage): void {
    const list = this.list(message.channel);
    const isRoot = message.thread_ts === message.ts;
    if (isRoot && this.replies(message.channel, message.ts).length > 0) {
      message.subtype = 'tombstone';
      message.text = 'This message was deleted.';
      message.user = SLACKBOT.user_id;
      delete message.blocks;
      delete message.files;
      delete message.bot_id;
      delete message.app_id;
      this.emit({ type: 'message', channel: message.channel, ts: message.ts });
      return;
    }
    const index = list.indexOf(message);
    if (index >= 0) list.splice(index, 1);
    const parentTs = message.thread_ts && message.thread_ts !== message.ts ? message.thread_ts : undefined;
    if (parentTs) {
      const parent = list.find((m) => m.ts === parentTs && !m.ephemeral_user);
      if (parent && this.replies(message.channel, parentTs).length === 0 && parent.subtype !== 'tombstone')
        delete parent.thread_ts;
    }
    this.emit({
      type: 'message_deleted',
      channel: message.channel,
      ts: message.ts,
      ...(parentTs ? { thread_ts: parentTs } : {}),
      ...(message.ephemeral_user ? { ephemeral_user: message.ephemeral_user } : {}),
    });
    if (parentTs) this.emit({ type: 'message', channel: message.channel, ts: parentTs });
  }

  /** Thread summary fields Slack adds to a thread root. */
  threadInfo(message: StoredMessage): Json {
    if (message.thread_ts !== message.ts) return {};
    const replies = this.replies(message.channel, message.ts);
    if (replies.length === 0) return {};
    const users = [...new Set(replies.map((r) => r.user))];
    return {
      reply_count: replies.length,
      reply_users_count: users.length,
      reply_users: users.slice(0, 5),
      latest_reply: replies[replies.length - 1]?.ts,
      is_locked: false,
      subscribed: false,
    };
  }

  /** A message as Slack's Web API returns it (chat.postMessage `message`, block_actions `message`). */
  toSlackMessage(message: StoredMessage): Json {
    const out: Json = { type: 'message' };
    if (message.subtype) out.subtype = message.subtype;
    out.user = message.user;
    if (message.bot_id) out.bot_id = message.bot_id;
    if (message.app_id) out.app_id = message.app_id;
    if (message.username) out.username = message.username;
    out.text = message.text;
    out.ts = message.ts;
    out.team = this.team.id;
    if (message.bot_id) {
      out.bot_profile = {
        id: this.bot.bot_id,
        app_id: this.bot.app_id,
        name: this.bot.real_name,
        icons: {},
        deleted: false,
        updated: Math.floor(this.now() / 1000),
        team_id: this.team.id,
      };
    }
    if (message.blocks) out.blocks = message.blocks;
    if (message.attachments) out.attachments = message.attachments;
    if (message.metadata !== undefined) out.metadata = message.metadata;
    if (message.thread_ts) {
      out.thread_ts = message.thread_ts;
      if (message.thread_ts !== message.ts) {
        const parent = this.findMessage(message.channel, message.thread_ts);
        if (parent) out.parent_user_id = parent.user;
      }
    }
    Object.assign(out, this.threadInfo(message));
    if (message.edited) out.edited = message.edited;
    if (message.files?.length) {
      out.files = message.files.map((id) => this.fileObject(id));
      out.upload = true;
    }
    return out;
  }

  // ---------------------------------------------------------------- files

  createFile(input: { name: string; length: number; user: string; alt_txt?: string }): StoredFile {
    const ext = /\.([A-Za-z0-9]+)$/.exec(input.name)?.[1]?.toLowerCase() ?? 'txt';
    const file: StoredFile = {
      id: randomId('F'),
      name: input.name,
      title: input.name,
      mimetype: MIME_TYPES[ext] ?? 'application/octet-stream',
      filetype: ext === 'txt' ? 'text' : ext,
      size: input.length,
      declaredLength: input.length,
      user: input.user,
      created: Math.floor(this.now() / 1000),
      completed: false,
      shares: [],
      ...(input.alt_txt ? { alt_txt: input.alt_txt } : {}),
    };
    this.files.set(file.id, file);
    return file;
  }

  getFile(id: string): StoredFile | undefined {
    return this.files.get(id);
  }

  listFiles(): StoredFile[] {
    return [...this.files.values()];
  }

  /** The public file object Slack returns (files.completeUploadExternal, message `files`). */
  fileObject(id: string): Json {
    const file = this.files.get(id);
    if (!file) return { id, mode: 'tombstone' };
    const path = `/files/${file.id}/${encodeURIComponent(file.name)}`;
    return {
      id: file.id,
      created: file.created,
      timestamp: file.created,
      name: file.name,
      title: file.title,
      mimetype: file.mimetype,
      filetype: file.filetype,
      pretty_type: file.filetype.toUpperCase(),
      user: file.user,
      user_team: this.team.id,
      size: file.size,
      mode: 'hosted',
      is_external: false,
      is_public: file.shares.some((s) => !this.channels.get(s.channel)?.is_im),
      url_private: `${this.baseUrl}${path}`,
      url_private_download: `${this.baseUrl}${path}?download=1`,
      permalink: `${this.baseUrl}${path}`,
      ...(file.alt_txt ? { alt_txt: file.alt_txt } : {}),
    };
  }

  /** Origin used in URLs the stand-in hands out (set by the server once it listens). */
  baseUrl = 'http://127.0.0.1:3100';

  // ---------------------------------------------------------------- views

  openView(user: string, view: Json, previous?: StoredView): StoredView {
    const id = randomId('V');
    const stored: StoredView = {
      id,
      user,
      view: withNormalizedBlocks(view),
      hash: `${Math.floor(this.now() / 1000)}.${randomShortId(8)}`,
      root_view_id: previous?.root_view_id ?? id,
      previous_view_id: previous?.id ?? null,
      open: true,
    };
    this.views.set(id, stored);
    this.emit({ type: 'view', user, view_id: id, action: previous ? 'pushed' : 'opened' });
    return stored;
  }

  updateView(stored: StoredView, view: Json): StoredView {
    stored.view = withNormalizedBlocks(view);
    stored.hash = `${Math.floor(this.now() / 1000)}.${randomShortId(8)}`;
    this.emit({ type: 'view', user: stored.user, view_id: stored.id, action: 'updated' });
    return stored;
  }

  closeView(stored: StoredView): void {
    stored.open = false;
    this.emit({ type: 'view', user: stored.user, view_id: stored.id, action: 'closed' });
  }

  getView(id: string): StoredView | undefined {
    return this.views.get(id);
  }

  findViewByExternalId(externalId: string): StoredView | undefined {
    return [...this.views.values()].find((v) => v.view.external_id === externalId);
  }

  /** Open views of a user, the top of the stack last. */
  openViews(user?: string): StoredView[] {
    return [...this.views.values()].filter((v) => v.open && (user === undefined || v.user === user));
  }

  /** The view object Slack returns from views.* and puts into view_submission payloads. */
  viewObject(stored: StoredView, stateValues: Json = {}): Json {
    const v = stored.view;
    return {
      id: stored.id,
      team_id: this.team.id,
      type: v.type ?? 'modal',
      blocks: Array.isArray(v.blocks) ? v.blocks : [],
      private_metadata: v.private_metadata ?? '',
      callback_id: v.callback_id ?? '',
      state: { values: stateValues },
      hash: stored.hash,
      title: v.title,
      clear_on_close: v.clear_on_close ?? false,
      notify_on_close: v.notify_on_close ?? false,
      close: v.close ?? null,
      submit: v.submit ?? null,
      previous_view_id: stored.previous_view_id,
      root_view_id: stored.root_view_id,
      app_id: this.bot.app_id,
      external_id: v.external_id ?? '',
      app_installed_team_id: this.team.id,
      bot_id: this.bot.bot_id,
    };
  }

  // ---------------------------------------------------------------- response_url / trigger_id

  createResponseUrl(input: Omit<ResponseUrlRecord, 'id' | 'createdAtMs' | 'uses'>): ResponseUrlRecord {
    const record: ResponseUrlRecord = {
      ...input,
      id: randomId('', 24),
      createdAtMs: this.now(),
      uses: 0,
    };
    this.responseUrls.set(record.id, record);
    return record;
  }

  getResponseUrl(id: string): ResponseUrlRecord | undefined {
    return this.responseUrls.get(id);
  }

  createTrigger(user: string): string {
    const id = createTriggerId(this.now);
    this.triggers.set(id, { user, createdAtMs: this.now() });
    return id;
  }

  /** `ok`, or Slack's error for views.open: `invalid_trigger_id` / `expired_trigger_id`. */
  useTrigger(
    id: string,
  ): { ok: true; user: string } | { ok: false; error: 'invalid_trigger_id' | 'expired_trigger_id' } {
    const trigger = this.triggers.get(id);
    if (!trigger) return { ok: false, error: 'invalid_trigger_id' };
    if (this.now() - trigger.createdAtMs > TRIGGER_TTL_MS) return { ok: false, error: 'expired_trigger_id' };
    this.triggers.delete(id);
    return { ok: true, user: trigger.user };
  }

  // ---------------------------------------------------------------- deliveries

  recordDelivery(delivery: Omit<Delivery, 'id' | 'at'>): Delivery {
    const full: Delivery = { ...delivery, id: randomId('DL', 8), at: new Date(this.now()).toISOString() };
    this.deliveryLog.push(full);
    if (this.deliveryLog.length > 500) this.deliveryLog.shift();
    this.emit({ type: 'delivery', delivery: full });
    return full;
  }

  deliveries(): Delivery[] {
    return [...this.deliveryLog];
  }
}

const MIME_TYPES: Record<string, string> = {
  txt: 'text/plain',
  log: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  html: 'text/html',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  pdf: 'application/pdf',
  gz: 'application/gzip',
  zip: 'application/zip',
};

const INTERACTIVE_WITH_ACTION_ID =
  /^(button|.*select|overflow|datepicker|datetimepicker|timepicker|checkboxes|radio_buttons|.*_input|workflow_button)$/;

/**
 * Slack fills in what a sender left out: a `block_id` on every block and an `action_id` on every
 * interactive element, so block_actions payloads always carry both.
 */
export function normalizeBlocks(blocks: Json[]): Json[] {
  const withActionId = (element: unknown): unknown => {
    if (typeof element !== 'object' || element === null) return element;
    const el = element as Json;
    if (typeof el.type === 'string' && INTERACTIVE_WITH_ACTION_ID.test(el.type) && el.action_id === undefined)
      return { ...el, action_id: randomShortId(5) };
    return el;
  };
  return blocks.map((block) => {
    const b: Json = { ...block };
    if (b.block_id === undefined) b.block_id = randomShortId(5);
    if (Array.isArray(b.elements) && (b.type === 'actions' || b.type === 'input'))
      b.elements = b.elements.map(withActionId);
    if (b.accessory !== undefined) b.accessory = withActionId(b.accessory);
    if (b.element !== undefined) b.element = withActionId(b.element);
    return b;
  });
}

function withNormalizedBlocks(view: Json): Json {
  return Array.isArray(view.blocks) ? { ...view, blocks: normalizeBlocks(view.blocks as Json[]) } : view;
}

/** Orders two Slack ts values (numeric, not lexicographic). */
export function compareTs(a: string, b: string): number {
  return (parseTs(a) ?? 0) - (parseTs(b) ?? 0);
}
