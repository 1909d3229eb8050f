/**
 * The Slack port the bot's jobs use, and its adapter over @slack/web-api's WebClient.
 *
 * The WebClient is built to surface rate limits (`rejectRateLimitedCalls`) instead of pausing its
 * whole queue: pacing is per channel and belongs to the caller (CONTRACTS.md). It does not retry
 * on its own either; BullMQ retries transient failures with backoff.
 */
import {
  type ChatPostMessageArguments,
  ErrorCode,
  type KnownBlock,
  type WebAPICallError,
  WebClient,
} from '@slack/web-api';
import { SlackRateLimitedError, SlackRejectedError, SlackUnavailableError } from '../errors.js';

export interface SlackMessage {
  readonly text: string;
  readonly blocks?: KnownBlock[];
}

export interface PostedMessage {
  readonly channel: string;
  readonly ts: string;
}

/**
 * Failure semantics: `SlackRateLimitedError` (retry this channel later), `SlackRejectedError`
 * (permanent), `SlackUnavailableError` (transient, back off).
 */
export interface ChatClient {
  postMessage(channel: string, message: SlackMessage, threadTs?: string): Promise<PostedMessage>;
  updateMessage(channel: string, ts: string, message: SlackMessage): Promise<void>;
  permalink(channel: string, ts: string): Promise<string | null>;
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
}
