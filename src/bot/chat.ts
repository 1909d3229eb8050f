/**
 * The Slack port the bot's jobs use, and its adapter over @slack/web-api's WebClient.
 *
 * The WebClient is built to surface rate limits (`rejectRateLimitedCalls`) instead of pausing its
 * whole queue: pacing is per channel and belongs to the caller (CONTRACTS.md). It does not retry
 * on its own either; BullMQ retries transient failures with backoff.
 */

import { setTimeout as delay } from 'node:timers/promises';
import {
  type ChatPostMessageArguments,
  ErrorCode,
  type FilesUploadV2Arguments,
  type KnownBlock,
  type WebAPICallError,
  WebClient,
} from '@slack/web-api';
import { SlackRateLimitedError, SlackRejectedError, SlackUnavailableError } from '../errors.js';
import { slackCallsTotal } from '../observability/metrics.js';

export interface SlackMessage {
  readonly text: string;
  readonly blocks?: KnownBlock[];
}

export interface PostedMessage {
  readonly channel: string;
  readonly ts: string;
}

export interface FileUpload {
  readonly filename: string;
  readonly title: string;
  readonly content: Buffer;
  /** Description for screen readers (images). */
  readonly altText?: string;
  /** Text of the message the file is shared in. */
  readonly initialComment?: string;
}

export interface UploadedFile {
  readonly fileId: string;
}

/**
 * Failure semantics: `SlackRateLimitedError` (retry this channel later), `SlackRejectedError`
 * (permanent), `SlackUnavailableError` (transient, back off).
 */
export interface ChatClient {
  postMessage(channel: string, message: SlackMessage, threadTs?: string): Promise<PostedMessage>;
  updateMessage(channel: string, ts: string, message: SlackMessage): Promise<void>;
  permalink(channel: string, ts: string): Promise<string | null>;
  /**
   * Uploads a file and shares it in `channel` (in the thread of `threadTs` when given). Not
   * idempotent: a retry after a failure in the last step may share the file twice.
   */
  uploadFile(channel: string, file: FileUpload, threadTs?: string): Promise<UploadedFile>;
}

export function createWebClient(token: string, apiUrl: string): WebClient {
  return new WebClient(token, {
    slackApiUrl: apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: 10_000,
  });
}

function classify(method: string, err: unknown): never {
  try {
    classifyInner(method, err);
  } catch (typed) {
    slackCallsTotal.inc({ method, outcome: (typed as { code?: string }).code ?? 'error' });
    throw typed;
  }
}

function classifyInner(method: string, err: unknown): never {
  const e = err as WebAPICallError & { retryAfter?: number; data?: { error?: string }; statusCode?: number };
  if (e.code === ErrorCode.RateLimitedError) throw new SlackRateLimitedError(method, e.retryAfter ?? 1);
  if (e.code === ErrorCode.PlatformError) {
    const slackError = e.data?.error ?? 'unknown_error';
    if (
      ['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'].includes(
        slackError,
      )
    ) {
      throw new SlackUnavailableError(method, { cause: err });
    }
    throw new SlackRejectedError(method, slackError, { cause: err });
  }
  // Request errors (network) and HTTP errors (5xx) are transient.
  throw new SlackUnavailableError(method, { cause: err });
}

export class SlackChatClient implements ChatClient {
  readonly client: WebClient;
  constructor(client: WebClient) {
    this.client = client;
  }

  async postMessage(channel: string, message: SlackMessage, threadTs?: string): Promise<PostedMessage> {
    const args: ChatPostMessageArguments = {
      channel,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks } : {}),
      ...(threadTs ? { thread_ts: threadTs } : {}),
      unfurl_links: false,
      unfurl_media: false,
    } as ChatPostMessageArguments;
    try {
      const res = await this.client.chat.postMessage(args);
      slackCallsTotal.inc({ method: 'chat.postMessage', outcome: 'ok' });
      return { channel: res.channel ?? channel, ts: res.ts ?? '' };
    } catch (err) {
      return classify('chat.postMessage', err);
    }
  }

  async updateMessage(channel: string, ts: string, message: SlackMessage): Promise<void> {
    try {
      await this.client.chat.update({
        channel,
        ts,
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
      });
      slackCallsTotal.inc({ method: 'chat.update', outcome: 'ok' });
    } catch (err) {
      classify('chat.update', err);
    }
  }

  async permalink(channel: string, ts: string): Promise<string | null> {
    try {
      const res = await this.client.chat.getPermalink({ channel, message_ts: ts });
      return res.permalink ?? null;
    } catch (err) {
      return classify('chat.getPermalink', err);
    }
  }

  /**
   * `files.uploadV2`: files.getUploadURLExternal, the upload itself, then
   * files.completeUploadExternal, which shares the file in the channel or thread.
   */
  async uploadFile(channel: string, file: FileUpload, threadTs?: string): Promise<UploadedFile> {
    let fileId: string | undefined;
    try {
      const res = await this.client.files.uploadV2({
        channel_id: channel,
        file: file.content,
        filename: file.filename,
        title: file.title,
        ...(file.altText ? { alt_text: file.altText } : {}),
        ...(file.initialComment ? { initial_comment: file.initialComment } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
      } as FilesUploadV2Arguments);
      const completed = (res as { files?: { files?: { id?: string }[] }[] }).files;
      fileId = completed?.[0]?.files?.[0]?.id;
    } catch (err) {
      return classify('files.uploadV2', err);
    }
    // Slack always names the file it completed; without an id the answer is not one we understand.
    if (!fileId) throw new SlackRejectedError('files.uploadV2', 'missing_file_id');
    return { fileId };
  }
}

/**
 * A ChatClient that waits out Slack's 429s (Retry-After) and tries again, a few times: for the
 * messages a person is waiting on right now (an approval message, a command's progress), which are
 * not delivered through the paced Slack queue. Other failures pass through at once.
 */
export class PatientChatClient implements ChatClient {
  private readonly inner: ChatClient;
  private readonly attempts: number;
  private readonly maxWaitMs: number;
  constructor(inner: ChatClient, opts: { attempts?: number; maxWaitMs?: number } = {}) {
    this.inner = inner;
    this.attempts = opts.attempts ?? 5;
    this.maxWaitMs = opts.maxWaitMs ?? 30_000;
  }

  private async patiently<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof SlackRateLimitedError) || attempt >= this.attempts) throw err;
        await delay(Math.min(this.maxWaitMs, Math.max(1, err.retryAfterSec) * 1000));
      }
    }
  }

  postMessage(channel: string, message: SlackMessage, threadTs?: string): Promise<PostedMessage> {
    return this.patiently(() => this.inner.postMessage(channel, message, threadTs));
  }
  updateMessage(channel: string, ts: string, message: SlackMessage): Promise<void> {
    return this.patiently(() => this.inner.updateMessage(channel, ts, message));
  }
  permalink(channel: string, ts: string): Promise<string | null> {
    return this.patiently(() => this.inner.permalink(channel, ts));
  }
  uploadFile(channel: string, file: FileUpload, threadTs?: string): Promise<UploadedFile> {
    return this.inner.uploadFile(channel, file, threadTs);
  }
}
