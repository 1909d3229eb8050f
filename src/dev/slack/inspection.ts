/**
 * The stand-in's own API under `/_local/*`: what tests and the chat page use to look inside the
 * workspace and to act as a person. A stable contract (other tests rely on it):
 *
 * - `GET  /_local/messages?channel=NAME_OR_ID[&include_ephemeral=1]` → `[{ channel, ts, thread_ts,
 *   user, text, blocks, edited, files, … }]`, oldest first, thread replies included
 * - `POST /_local/command` `{ user, channel, command, text }` → `{ status, body, error? }`
 * - `POST /_local/action`  `{ user, channel, ts, action_id, block_id?, value? }` → `{ status, body, error? }`
 * - `GET  /_local/users` → `[{ id, name, email, role, … }]`; `GET /_local/channels` → `[{ id, name, … }]`
 * - `POST /_local/reset` → back to the seed
 *
 * plus what the page needs: `/_local/post`, `/_local/view/submit`, `/_local/view/close`,
 * `/_local/views`, `/_local/deliveries`, `/_local/workspace`, `/_local/stream` (SSE), `/_local/health`.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { InteractionError, type Interactions } from './interactions.js';
import type { TokenBucketLimiter } from './rate-limit.js';
import type { Json, SlackStore, StoredMessage, StoredUser } from './store.js';

export interface InspectionOptions {
  store: SlackStore;
  interactions: Interactions;
  limiter: TokenBucketLimiter;
  botUrl: () => string;
}

/** One message in the inspection API's shape. */
export function inspectMessage(store: SlackStore, m: StoredMessage): Json {
  const thread = store.threadInfo(m);
  return {
    channel: m.channel,
    ts: m.ts,
    thread_ts: m.thread_ts ?? null,
    user: m.user,
    text: m.text,
    blocks: m.blocks ?? [],
    edited: m.edited ?? null,
    files: (m.files ?? []).map((id) => {
      const f = store.fileObject(id);
      return {
        id: f.id,
        name: f.name,
        title: f.title,
        mimetype: f.mimetype,
        size: f.size,
        url_private: f.url_private,
        permalink: f.permalink,
      };
    }),
    subtype: m.subtype ?? null,
    bot_id: m.bot_id ?? null,
    username: m.username ?? null,
    mrkdwn: m.mrkdwn ?? true,
    attachments: m.attachments ?? [],
    reply_count: typeof thread.reply_count === 'number' ? thread.reply_count : 0,
    reply_users: Array.isArray(thread.reply_users) ? thread.reply_users : [],
    latest_reply: thread.latest_reply ?? null,
    ...(m.ephemeral_user ? { ephemeral_user: m.ephemeral_user } : {}),
  };
}

function inspectUser(u: StoredUser): Json {
  return {
    id: u.id,
    name: u.name,
    email: u.email ?? null,
    role: u.role,
    real_name: u.real_name,
    title: u.title,
    is_bot: u.is_bot,
    color: u.color,
  };
}

function flag(value: unknown): boolean {
  return value === '1' || value === 'true' || value === 'yes';
}

export function createInspectionRouter(opts: InspectionOptions): {
  router: Router;
  closeStreams: () => void;
} {
  const { store, interactions } = opts;
  const router = express.Router();
  const json = express.json({ limit: '10mb' });
  const streams = new Set<Response>();

  router.get('/_local/health', (_req, res) => {
    res.json({
      ok: true,
      bot_url: opts.botUrl(),
      rate_limit: opts.limiter.settings,
      rate_limited: opts.limiter.refused,
    });
  });

  router.get('/_local/workspace', (_req, res) => {
    res.json({
      team: store.team,
      bot: store.bot,
      bot_url: opts.botUrl(),
      rate_limit: opts.limiter.settings,
    });
  });

  router.get('/_local/users', (_req, res) => {
    res.json(store.listUsers().map(inspectUser));
  });

  router.get('/_local/channels', (_req, res) => {
    res.json(
      store.listChannels().map((c) => ({
        id: c.id,
        name: c.name,
        is_im: c.is_im,
        ...(c.im_user ? { im_user: c.im_user } : {}),
        topic: c.topic,
      })),
    );
  });

  router.get('/_local/messages', (req, res) => {
    const ref = typeof req.query.channel === 'string' ? req.query.channel : '';
    const channel = interactions.channel(ref);
    const includeEphemeral = flag(req.query.include_ephemeral);
    const viewer = typeof req.query.viewer === 'string' ? store.resolveUser(req.query.viewer)?.id : undefined;
    const list = store
      .allMessages(channel.id)
      .filter(
        (m) =>
          m.ephemeral_user === undefined || (includeEphemeral && (!viewer || m.ephemeral_user === viewer)),
      );
    res.json(list.map((m) => inspectMessage(store, m)));
  });

  router.get('/_local/files', (_req, res) => {
    res.json(
      store.listFiles().map((f) => ({ ...store.fileObject(f.id), completed: f.completed, shares: f.shares })),
    );
  });

  router.get('/_local/views', (req, res) => {
    const user = typeof req.query.user === 'string' ? interactions.user(req.query.user).id : undefined;
    res.json(store.openViews(user).map((v) => ({ id: v.id, user: v.user, view: store.viewObject(v) })));
  });

  router.get('/_local/deliveries', (_req, res) => {
    res.json(store.deliveries());
  });

  router.post('/_local/command', json, async (req, res) => {
    const body = (req.body ?? {}) as Json;
    res.json(
      await interactions.command({
        user: body.user,
        channel: body.channel,
        command: body.command,
        text: body.text,
      }),
    );
  });

  router.post('/_local/action', json, async (req, res) => {
    const body = (req.body ?? {}) as Json;
    res.json(
      await interactions.action({
        user: body.user,
        channel: body.channel,
        ts: body.ts,
        action_id: body.action_id,
        block_id: body.block_id,
        value: body.value,
      }),
    );
  });

  router.post('/_local/view/submit', json, async (req, res) => {
    const body = (req.body ?? {}) as Json;
    res.json(await interactions.submitView({ user: body.user, view_id: body.view_id, values: body.values }));
  });

  router.post('/_local/view/close', json, async (req, res) => {
    const body = (req.body ?? {}) as Json;
    res.json(await interactions.closeView({ user: body.user, view_id: body.view_id }));
  });

  /** A person writes a plain message (no Events API delivery: the bot is not told). */
  router.post('/_local/post', json, (req, res) => {
    const body = (req.body ?? {}) as Json;
    const user = interactions.user(body.user);
    const channel = interactions.channel(body.channel);
    const text = typeof body.text === 'string' ? body.text : '';
    if (text.trim() === '') throw new InteractionError('no_text', 'text is empty', 400);
    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    if (threadTs && !store.findMessage(channel.id, threadTs))
      throw new InteractionError('thread_not_found', `no message ${threadTs}`);
    const message = store.addMessage({
      channel: channel.id,
      user: user.id,
      text,
      ...(threadTs ? { thread_ts: threadTs } : {}),
    });
    res.json({ channel: channel.id, ts: message.ts });
  });

  router.post('/_local/reset', (_req, res) => {
    store.reset();
    opts.limiter.reset();
    res.json({ ok: true });
  });

  /** The response_urls handed out with commands and interactions. */
  router.post('/_local/response/:id', express.raw({ type: () => true, limit: '10mb' }), (req, res) => {
    let body: unknown;
    try {
      const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      body = raw ? (JSON.parse(raw) as unknown) : undefined;
    } catch {
      res.status(400).json({ ok: false, error: 'invalid_payload' });
      return;
    }
    const result = interactions.respond(String(req.params.id), body);
    res.status(result.status).json(result.body);
  });

  /** Live updates for the page: every store change as a Server-Sent Event. */
  router.get('/_local/stream', (req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    streams.add(res);
    const unsubscribe = store.subscribe((event) => {
      res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    req.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(res);
    });
  });

  /** url_private of uploaded files (no auth here: the page shows them inline). */
  router.get('/files/:id/:name', (req, res) => {
    const file = store.getFile(String(req.params.id));
    if (!file?.data) {
      res.status(404).type('text/plain').send('file_not_found');
      return;
    }
    res.type(file.mimetype);
    if (req.query.download) res.attachment(file.name);
    res.send(file.data);
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof InteractionError) {
      res.status(err.status).json({ error: err.code, message: err.message });
      return;
    }
    if (
      typeof err === 'object' &&
      err !== null &&
      (err as { type?: string }).type === 'entity.parse.failed'
    ) {
      res.status(400).json({ error: 'invalid_json', message: 'the body is not valid JSON' });
      return;
    }
    next(err);
  });

  return {
    router,
    closeStreams: () => {
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
