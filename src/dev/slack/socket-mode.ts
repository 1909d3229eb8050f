/**
 * Slack's Socket Mode, served by the stand-in: `apps.connections.open` hands out a one-use
 * `ws://…/link/?ticket=…&app_id=…` URL on the stand-in's own HTTP server; the app connects, gets
 * `hello`, and from then on slash commands and interactions arrive as envelopes
 * (`{ envelope_id, type, payload, accepts_response_payload }`) that the app must acknowledge
 * (`{ envelope_id, payload? }`) within 3 s, or the person sees Slack's error. The ack's payload
 * plays the part of the HTTP response body (a slash command's immediate answer, a modal's
 * `response_action`). `disconnect` messages ask the app to reconnect, as Slack does when it
 * recycles a connection.
 *
 * Transport only: what is delivered is built by interactions.ts, exactly as for HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import express, { type Request, type Response, type Router } from 'express';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../observability/logger.js';
import { randomHex } from './ids.js';
import type { DeliveryError } from './outbound.js';
import type { SlackStore } from './store.js';

/** The envelope types Slack sends over Socket Mode. */
export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

/** Why Slack asks an app to reconnect (`{ type: 'disconnect', reason }`). */
export const DISCONNECT_REASONS = ['warning', 'refresh_requested', 'link_disabled'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/** The path of the WebSocket URLs handed out (Slack: `wss://wss-primary.slack.com/link/`). */
export const SOCKET_MODE_PATH = '/link/';

export interface SocketModeOptions {
  store: SlackStore;
  log: Logger;
  /** Slack gives up on an envelope that is not acknowledged within 3 s. */
  ackTimeoutMs: number;
  /** How often each connection is pinged; a connection that missed the previous pong is dropped. */
  pingIntervalMs?: number;
  /** How long a URL from apps.connections.open may wait before it is used. */
  ticketTtlMs?: number;
  /** After `disconnect` (not `warning`), how long the app has to close before the stand-in does. */
  disconnectGraceMs?: number;
}

/** What became of one envelope. */
export interface EnvelopeOutcome {
  envelopeId: string;
  connectionId: string;
  /** True when the app acknowledged it in time. */
  acked: boolean;
  /** The ack's payload, when it carried one. */
  payload: unknown;
  /** Slack's name for a failed delivery, as the user sees it. */
  error?: DeliveryError;
  durationMs: number;
}

export interface SocketConnectionInfo {
  id: string;
  app_id: string;
  connected_at: string;
  remote: string | null;
  delivered: number;
  acked: number;
  /** Acks that arrived after Slack had given up, or named no envelope we sent. */
  late_or_unknown_acks: number;
}

interface Pending {
  resolve: (outcome: EnvelopeOutcome) => void;
  started: number;
  timer: NodeJS.Timeout;
}

interface Connection {
  id: string;
  ws: WebSocket;
  connectedAt: number;
  remote: string | null;
  alive: boolean;
  pending: Map<string, Pending>;
  delivered: number;
  acked: number;
  lateOrUnknown: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class SocketModeHub {
  private readonly opts: Required<SocketModeOptions>;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Map<string, number>();
  private readonly conns = new Map<string, Connection>();
  private readonly pinger: NodeJS.Timeout;
  private next = 0;
  private urlsOpened = 0;

  constructor(opts: SocketModeOptions) {
    this.opts = { pingIntervalMs: 10_000, ticketTtlMs: 30_000, disconnectGraceMs: 1_000, ...opts };
    this.pinger = setInterval(() => this.ping(), this.opts.pingIntervalMs);
    this.pinger.unref();
  }

  private get appId(): string {
    return this.opts.store.bot.app_id;
  }

  /** `apps.connections.open`: a fresh one-use URL on the stand-in's own server. */
  openUrl(): string {
    const now = this.opts.store.now();
    for (const [ticket, expires] of this.tickets) if (expires <= now) this.tickets.delete(ticket);
    const ticket = randomUUID();
    this.tickets.set(ticket, now + this.opts.ticketTtlMs);
    this.urlsOpened += 1;
    const base = this.opts.store.baseUrl.replace(/^http/, 'ws');
    return `${base}${SOCKET_MODE_PATH}?ticket=${ticket}&app_id=${this.appId}`;
  }

  /**
   * The HTTP server's `upgrade` event. A URL that was not handed out, was used already or waited
   * too long is refused before the handshake; the app then asks for a new one.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== SOCKET_MODE_PATH && url.pathname !== SOCKET_MODE_PATH.slice(0, -1)) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    const ticket = url.searchParams.get('ticket') ?? '';
    const expires = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (expires === undefined || expires <= this.opts.store.now()) {
      this.opts.log.warn('slack-local: Socket Mode connection refused: unknown, used or expired ticket');
      refuse(socket, 401, 'Unauthorized');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const conn: Connection = {
      id: `SM${randomHex(6).toUpperCase()}`,
      ws,
      connectedAt: this.opts.store.now(),
      remote: req.socket.remoteAddress ?? null,
      alive: true,
      pending: new Map(),
      delivered: 0,
      acked: 0,
      lateOrUnknown: 0,
    };
    this.conns.set(conn.id, conn);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('close', () => this.drop(conn));
    ws.on('error', (err) => {
      this.opts.log.warn({ err, connection: conn.id }, 'slack-local: Socket Mode connection error');
    });
    this.send(conn, {
      type: 'hello',
      num_connections: this.conns.size,
      debug_info: { host: 'slack-local' },
      connection_info: { app_id: this.appId },
    });
    this.opts.log.info(
      { connection: conn.id, connections: this.conns.size },
      'slack-local: an app connected over Socket Mode',
    );
  }

  private drop(conn: Connection): void {
    if (!this.conns.delete(conn.id)) return;
    // Envelopes in flight on a dead connection are lost: the person sees the failure at once.
    for (const [envelopeId, pending] of conn.pending)
      this.settle(conn, envelopeId, pending, 'dispatch_failed');
    this.opts.log.info(
      { connection: conn.id, connections: this.conns.size },
      'slack-local: a Socket Mode connection closed',
    );
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    let message: unknown;
    try {
      if (isBinary) throw new Error('binary frame');
      message = JSON.parse(rawText(data));
    } catch {
      this.opts.log.warn({ connection: conn.id }, 'slack-local: Socket Mode message is not JSON; ignored');
      return;
    }
    const envelopeId = isObject(message) ? message.envelope_id : undefined;
    const pending = typeof envelopeId === 'string' ? conn.pending.get(envelopeId) : undefined;
    if (typeof envelopeId !== 'string' || !pending) {
      conn.lateOrUnknown += 1;
      this.opts.log.warn(
        { connection: conn.id, envelopeId },
        'slack-local: an ack for no envelope in flight (late, repeated or unknown); ignored',
      );
      return;
    }
    conn.acked += 1;
    this.settle(conn, envelopeId, pending, undefined, isObject(message) ? message.payload : undefined);
  }

  private settle(
    conn: Connection,
    envelopeId: string,
    pending: Pending,
    error: DeliveryError | undefined,
    payload?: unknown,
  ): void {
    clearTimeout(pending.timer);
    conn.pending.delete(envelopeId);
    pending.resolve({
      envelopeId,
      connectionId: conn.id,
      acked: error === undefined,
      payload,
      ...(error ? { error } : {}),
      durationMs: Math.round(performance.now() - pending.started),
    });
  }

  private send(conn: Connection, message: unknown): void {
    conn.ws.send(JSON.stringify(message));
  }

  private ping(): void {
    for (const conn of this.conns.values()) {
      if (!conn.alive) {
        this.opts.log.warn(
          { connection: conn.id },
          'slack-local: Socket Mode connection missed a pong; dropped',
        );
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  /** Whether an app is connected (deliveries then go over Socket Mode instead of HTTP). */
  connected(): boolean {
    return [...this.conns.values()].some((c) => c.ws.readyState === WebSocket.OPEN);
  }

  /** Slack spreads envelopes over an app's open connections. */
  private pick(): Connection | undefined {
    const open = [...this.conns.values()].filter((c) => c.ws.readyState === WebSocket.OPEN);
    if (open.length === 0) return undefined;
    this.next = (this.next + 1) % open.length;
    return open[this.next];
  }

  /**
   * Sends one envelope to a connected app and waits for its ack. Undefined when no app is
   * connected (the caller delivers over HTTP). Never throws: a missing ack is `operation_timeout`,
   * a connection lost before the ack is `dispatch_failed`.
   */
  deliver(
    type: EnvelopeType,
    payload: unknown,
    acceptsResponsePayload: boolean,
  ): Promise<EnvelopeOutcome> | undefined {
    const conn = this.pick();
    if (!conn) return undefined;
    const envelopeId = randomUUID();
    const envelope = {
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: acceptsResponsePayload,
      ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}),
    };
    return new Promise((resolve) => {
      const pending: Pending = {
        resolve,
        started: performance.now(),
        timer: setTimeout(() => {
          this.opts.log.warn(
            { connection: conn.id, envelopeId, type, timeoutMs: this.opts.ackTimeoutMs },
            'slack-local: the app did not acknowledge a Socket Mode envelope in time',
          );
          this.settle(conn, envelopeId, pending, 'operation_timeout');
        }, this.opts.ackTimeoutMs),
      };
      conn.pending.set(envelopeId, pending);
      conn.delivered += 1;
      conn.ws.send(JSON.stringify(envelope), (err) => {
        if (err && conn.pending.has(envelopeId)) this.settle(conn, envelopeId, pending, 'dispatch_failed');
      });
    });
  }

  /**
   * Asks every connected app to reconnect, as Slack does when it recycles a connection
   * (`warning` comes first, then `refresh_requested`; `link_disabled` when Socket Mode is turned
   * off). Except after `warning`, the stand-in closes a connection the app did not close itself.
   */
  disconnect(reason: DisconnectReason): number {
    const targets = [...this.conns.values()];
    for (const conn of targets) {
      this.send(conn, { type: 'disconnect', reason, debug_info: { host: 'slack-local' } });
      if (reason !== 'warning') {
        setTimeout(() => {
          if (conn.ws.readyState === WebSocket.OPEN || conn.ws.readyState === WebSocket.CLOSING)
            conn.ws.terminate();
        }, this.opts.disconnectGraceMs).unref();
      }
    }
    return targets.length;
  }

  connections(): SocketConnectionInfo[] {
    return [...this.conns.values()].map((c) => ({
      id: c.id,
      app_id: this.appId,
      connected_at: new Date(c.connectedAt).toISOString(),
      remote: c.remote,
      delivered: c.delivered,
      acked: c.acked,
      late_or_unknown_acks: c.lateOrUnknown,
    }));
  }

  get urlsHandedOut(): number {
    return this.urlsOpened;
  }

  /** Drops every connection at once (the stand-in is stopping). */
  close(): void {
    clearInterval(this.pinger);
    for (const conn of this.conns.values()) conn.ws.terminate();
    this.wss.close();
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * `GET /_local/socket-mode` (connections, URLs handed out) and
 * `POST /_local/socket-mode/disconnect` `{ reason? }` (default `refresh_requested`).
 */
export function createSocketModeRouter(hub: SocketModeHub): Router {
  const router = express.Router();
  router.get('/_local/socket-mode', (_req: Request, res: Response) => {
    res.json({
      connected: hub.connected(),
      urls_handed_out: hub.urlsHandedOut,
      connections: hub.connections(),
    });
  });
  router.post('/_local/socket-mode/disconnect', express.json(), (req: Request, res: Response) => {
    const raw = isObject(req.body) ? req.body.reason : undefined;
    const reason = raw === undefined ? 'refresh_requested' : raw;
    if (!DISCONNECT_REASONS.includes(reason as DisconnectReason)) {
      res.status(400).json({ ok: false, error: 'invalid_reason', reasons: DISCONNECT_REASONS });
      return;
    }
    res.json({ ok: true, reason, connections: hub.disconnect(reason as DisconnectReason) });
  });
  return router;
}
