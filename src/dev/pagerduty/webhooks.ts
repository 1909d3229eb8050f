/**
 * Webhooks v3 delivery, behaving as PagerDuty documents it (webhooks/02-Behavior.md,
 * 04-Signatures.md, 01-Overview.md):
 *
 * - one POST per event, body `{ event: {…} }`, headers `Content-Type: application/json`,
 *   `User-Agent: PagerDuty-Webhook/V3.0`, `X-Webhook-Id` (unique per webhook, the same on every
 *   retry of it), `X-Webhook-Subscription` (the subscription id), `X-PagerDuty-Signature`
 *   (`v1=<hex HMAC-SHA256 of the raw body>` per secret, comma-separated during a rotation), plus the
 *   subscription's custom headers;
 * - a 2xx within the timeout (5 s) is a delivery; no response/timeout, a connection error, 5xx or 429
 *   is retried with exponential backoff; any other status (and a TLS failure) drops the webhook
 *   without a retry; a webhook still failing after `maxAttempts` is dropped as failed;
 * - webhooks are delivered in order per incident: while one is being retried, later webhooks for the
 *   same incident wait behind it (other incidents are not held up);
 * - 3 consecutive dropped webhooks disable the subscription for 24 h: its queue is discarded and no
 *   new webhook is sent until it is re-enabled (`enable()`, the inspection API) or the time passes.
 *
 * PagerDuty retries for up to 48 h; in the lab the base delay and the attempt count are options so
 * a retry takes milliseconds. Every attempt is recorded for the inspection API.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { asError } from '../../errors.js';
import { type Logger, silentLogger } from '../../observability/logger.js';
import { signPagerDutyPayload } from './signature.js';

export const WEBHOOK_USER_AGENT = 'PagerDuty-Webhook/V3.0';

export interface WebhookSubscription {
  /** Sent as `X-Webhook-Subscription`. */
  readonly id: string;
  readonly url: string;
  /** One secret, or two during a rotation (the header then carries two `v1=` signatures). */
  readonly secrets: readonly string[];
  readonly customHeaders?: readonly { readonly name: string; readonly value: string }[];
}

export interface WebhookDispatcherOptions {
  readonly subscription: WebhookSubscription;
  /** Time allowed for a 2xx, connect to end of body. PagerDuty: 5 s. */
  readonly timeoutMs?: number;
  /** First retry delay; doubles per attempt. Default 1000 ms. */
  readonly retryBaseDelayMs?: number;
  /** Longest delay between attempts. Default 60 s. */
  readonly retryMaxDelayMs?: number;
  /** Attempts per webhook before it is dropped as failed. Default 5. */
  readonly maxAttempts?: number;
  /** Consecutive drops that disable the subscription. PagerDuty: 3. */
  readonly disableAfterDrops?: number;
  /** How long a subscription stays disabled. PagerDuty: 24 h. */
  readonly disableForMs?: number;
  readonly now?: () => number;
  readonly log?: Logger;
  readonly fetch?: typeof fetch;
  /** Most attempts and webhooks kept for inspection (oldest dropped first). */
  readonly maxRecords?: number;
}

export type WebhookState =
  | 'queued'
  | 'sending'
  | 'retrying'
  | 'delivered'
  | 'dropped'
  | 'failed'
  | 'discarded_disabled'
  | 'not_sent_disabled'
  | 'cancelled';

/** One webhook (one event), whatever the number of attempts. */
export interface WebhookRecord {
  readonly webhook_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly incident_id: string;
  readonly created_at: string;
  state: WebhookState;
  attempts: number;
  last_status: number | null;
  /** The exact JSON body sent (the signed bytes). */
  readonly body: string;
}

/** One HTTP attempt. */
export interface DeliveryAttempt {
  readonly webhook_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly incident_id: string;
  readonly attempt: number;
  readonly at: string;
  readonly duration_ms: number;
  readonly url: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  readonly outcome: 'delivered' | 'retry' | 'dropped' | 'failed';
  readonly error?: string;
  readonly next_retry_at?: string;
  readonly signature: string;
}

export interface SubscriptionStatus {
  readonly id: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly disabled_until: string | null;
  readonly consecutive_drops: number;
  readonly secrets: number;
}

type AttemptResult =
  | { kind: 'ok'; status: number }
  | { kind: 'retry'; status: number | null; error?: string }
  | { kind: 'drop'; status: number | null; error?: string }
  | { kind: 'cancelled' };

/** One run of the dispatcher between resets: its queues and the signal that cancels them. */
interface Generation {
  readonly controller: AbortController;
  readonly queues: Map<string, WebhookRecord[]>;
  readonly drains: Map<string, Promise<void>>;
}

function newGeneration(): Generation {
  return { controller: new AbortController(), queues: new Map(), drains: new Map() };
}

/** Splits `https://user:pass@host/path` into a URL fetch accepts and a Basic Authorization header. */
function splitCredentials(raw: string): { url: string; authorization?: string } {
  const u = new URL(raw);
  if (u.username === '' && u.password === '') return { url: raw };
  const creds = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization: `Basic ${Buffer.from(creds).toString('base64')}` };
}

function isTlsError(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'ERR_SSL_WRONG_VERSION_NUMBER';
}

export class WebhookDispatcher {
  private subscription: WebhookSubscription;
  private readonly timeoutMs: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxAttempts: number;
  private readonly disableAfterDrops: number;
  private readonly disableForMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly fetchImpl: typeof fetch;
  private readonly maxRecords: number;

  private gen: Generation = newGeneration();
  private consecutiveDrops = 0;
  private disabledUntil: number | null = null;
  private webhookRecords: WebhookRecord[] = [];
  private attemptRecords: DeliveryAttempt[] = [];
  private closed = false;

  constructor(opts: WebhookDispatcherOptions) {
    if (opts.subscription.secrets.length === 0)
      throw new Error('a webhook subscription needs a signing secret');
    this.subscription = opts.subscription;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retryBaseDelayMs = opts.retryBaseDelayMs ?? 1_000;
    this.retryMaxDelayMs = opts.retryMaxDelayMs ?? 60_000;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.disableAfterDrops = opts.disableAfterDrops ?? 3;
    this.disableForMs = opts.disableForMs ?? 24 * 60 * 60 * 1000;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.fetchImpl = opts.fetch ?? fetch;
    this.maxRecords = opts.maxRecords ?? 10_000;
  }

  status(): SubscriptionStatus {
    const disabled = this.isDisabled();
    return {
      id: this.subscription.id,
      url: this.subscription.url,
      enabled: !disabled,
      disabled_until:
        disabled && this.disabledUntil !== null ? new Date(this.disabledUntil).toISOString() : null,
      consecutive_drops: this.consecutiveDrops,
      secrets: this.subscription.secrets.length,
    };
  }

  webhooks(): readonly WebhookRecord[] {
    return this.webhookRecords;
  }

  attempts(): readonly DeliveryAttempt[] {
    return this.attemptRecords;
  }

  /** Changes the URL, secrets or custom headers; applies to the next attempt (retries included). */
  updateSubscription(patch: Partial<Omit<WebhookSubscription, 'id'>>): void {
    if (patch.secrets !== undefined && patch.secrets.length === 0) {
      throw new Error('a webhook subscription needs a signing secret');
    }
    this.subscription = { ...this.subscription, ...patch };
  }

  /** Re-enables a disabled subscription (PagerDuty: manually, in the web app). */
  enable(): void {
    this.disabledUntil = null;
    this.consecutiveDrops = 0;
  }

  /** Cancels everything queued or in flight and forgets all records; the subscription is enabled again. */
  reset(): void {
    this.gen.controller.abort();
    this.gen = newGeneration();
    this.webhookRecords = [];
    this.attemptRecords = [];
    this.enable();
  }

  /** Cancels queued and in-flight deliveries and waits for them to stop. */
  async close(): Promise<void> {
    this.closed = true;
    this.gen.controller.abort();
    await Promise.allSettled([...this.gen.drains.values()]);
  }

  /** Resolves once nothing is queued, being sent or waiting for a retry. */
  async whenIdle(): Promise<void> {
    while (this.gen.drains.size > 0) await Promise.allSettled([...this.gen.drains.values()]);
  }

  /**
   * Queues one webhook (`body` is the serialised `{ event }`) behind earlier ones for the same
   * incident. Not sent (and recorded as `not_sent_disabled`) while the subscription is disabled.
   */
  enqueue(args: {
    incidentId: string;
    eventType: string;
    eventId: string;
    webhookId: string;
    body: string;
  }): WebhookRecord {
    const record: WebhookRecord = {
      webhook_id: args.webhookId,
      event_id: args.eventId,
      event_type: args.eventType,
      incident_id: args.incidentId,
      created_at: new Date(this.now()).toISOString(),
      state: 'queued',
      attempts: 0,
      last_status: null,
      body: args.body,
    };
    this.pushRecord(this.webhookRecords, record);
    if (this.closed) {
      record.state = 'cancelled';
      return record;
    }
    if (this.isDisabled()) {
      record.state = 'not_sent_disabled';
      this.log.warn({ webhookId: record.webhook_id }, 'webhook subscription disabled: webhook not sent');
      return record;
    }
    const gen = this.gen;
    const queue = gen.queues.get(args.incidentId) ?? [];
    queue.push(record);
    gen.queues.set(args.incidentId, queue);
    if (!gen.drains.has(args.incidentId)) {
      const drain = this.drain(gen, args.incidentId).finally(() => gen.drains.delete(args.incidentId));
      gen.drains.set(args.incidentId, drain);
    }
    return record;
  }

  private pushRecord<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.maxRecords) list.shift();
  }

  private isDisabled(): boolean {
    if (this.disabledUntil === null) return false;
    if (this.now() < this.disabledUntil) return true;
    this.enable();
    return false;
  }

  private async drain(gen: Generation, incidentId: string): Promise<void> {
    for (;;) {
      const queue = gen.queues.get(incidentId);
      const next = queue?.shift();
      if (next === undefined || gen.controller.signal.aborted) {
        gen.queues.delete(incidentId);
        return;
      }
      await this.deliver(gen, next);
    }
  }

  private async deliver(gen: Generation, record: WebhookRecord): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (gen.controller.signal.aborted) {
        record.state = 'cancelled';
        return;
      }
      if (this.isDisabled()) {
        record.state = 'discarded_disabled';
        return;
      }
      record.state = 'sending';
      const sub = this.subscription;
      const signature = signPagerDutyPayload(record.body, sub.secrets);
      const startedAt = this.now();
      const t0 = performance.now();
      const result = await this.sendOnce(gen, record, sub, signature);
      if (result.kind === 'cancelled') {
        record.state = 'cancelled';
        return;
      }
      record.attempts = attempt;
      record.last_status = result.status;
      const base = {
        webhook_id: record.webhook_id,
        event_id: record.event_id,
        event_type: record.event_type,
        incident_id: record.incident_id,
        attempt,
        at: new Date(startedAt).toISOString(),
        duration_ms: Math.round(performance.now() - t0),
        url: sub.url,
        status: result.status,
        signature,
      };
      if (result.kind === 'ok') {
        this.pushRecord(this.attemptRecords, { ...base, outcome: 'delivered' });
        record.state = 'delivered';
        this.consecutiveDrops = 0;
        this.log.debug({ webhookId: record.webhook_id, attempt }, 'webhook delivered');
        return;
      }
      const error = result.error === undefined ? {} : { error: result.error };
      if (result.kind === 'drop') {
        this.pushRecord(this.attemptRecords, { ...base, ...error, outcome: 'dropped' });
        record.state = 'dropped';
        this.log.warn(
          { webhookId: record.webhook_id, status: result.status },
          'webhook dropped (permanent error)',
        );
        this.registerDrop(gen);
        return;
      }
      if (attempt >= this.maxAttempts) {
        this.pushRecord(this.attemptRecords, { ...base, ...error, outcome: 'failed' });
        record.state = 'failed';
        this.log.warn({ webhookId: record.webhook_id, attempt }, 'webhook failed after the last attempt');
        this.registerDrop(gen);
        return;
      }
      const delay = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** (attempt - 1));
      this.pushRecord(this.attemptRecords, {
        ...base,
        ...error,
        outcome: 'retry',
        next_retry_at: new Date(this.now() + delay).toISOString(),
      });
      record.state = 'retrying';
      this.log.info(
        { webhookId: record.webhook_id, attempt, delay, status: result.status },
        'webhook will be retried',
      );
      try {
        await sleep(delay, undefined, { signal: gen.controller.signal });
      } catch {
        record.state = 'cancelled';
        return;
      }
    }
  }

  private registerDrop(gen: Generation): void {
    this.consecutiveDrops += 1;
    if (this.consecutiveDrops < this.disableAfterDrops) return;
    this.disabledUntil = this.now() + this.disableForMs;
    this.log.warn(
      { subscription: this.subscription.id },
      'webhook subscription disabled after consecutive drops',
    );
    for (const queue of gen.queues.values()) {
      for (const r of queue) r.state = 'discarded_disabled';
      queue.length = 0;
    }
  }

  private async sendOnce(
    gen: Generation,
    record: WebhookRecord,
    sub: WebhookSubscription,
    signature: string,
  ): Promise<AttemptResult> {
    const { url, authorization } = splitCredentials(sub.url);
    const headers: Record<string, string> = {};
    for (const h of sub.customHeaders ?? []) headers[h.name] = h.value;
    if (authorization !== undefined) headers.Authorization = authorization;
    Object.assign(headers, {
      'Content-Type': 'application/json',
      'User-Agent': WEBHOOK_USER_AGENT,
      'X-Webhook-Id': record.webhook_id,
      'X-Webhook-Subscription': sub.id,
      'X-PagerDuty-Signature': signature,
    });
    const signal = AbortSignal.any([gen.controller.signal, AbortSignal.timeout(this.timeoutMs)]);
    try {
      const res = await this.fetchImpl(url, {
        method: 'POST',
        headers,
        body: record.body,
        signal,
        redirect: 'manual',
      });
      // Read the body so the deadline covers it and the connection is freed.
      await res.arrayBuffer();
      if (res.status >= 200 && res.status < 300) return { kind: 'ok', status: res.status };
      if (res.status === 429 || res.status >= 500) return { kind: 'retry', status: res.status };
      return { kind: 'drop', status: res.status };
    } catch (thrown) {
      if (gen.controller.signal.aborted) return { kind: 'cancelled' };
      const err = asError(thrown);
      if (err.name === 'TimeoutError' || err.name === 'AbortError') {
        return { kind: 'retry', status: null, error: `no 2xx within ${this.timeoutMs} ms` };
      }
      const cause = (err as { cause?: unknown }).cause;
      const detail = cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
      if (isTlsError(err)) return { kind: 'drop', status: null, error: `TLS error: ${detail}` };
      return { kind: 'retry', status: null, error: detail };
    }
  }
}
