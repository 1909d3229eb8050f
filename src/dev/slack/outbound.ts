/**
 * What Slack sends to an app's Request URL, in Slack's exact encodings, signed with the app's
 * signing secret: slash commands as form fields, interactions (`block_actions`,
 * `view_submission`) as one form field `payload` holding JSON. Payload builders are pure; the
 * sender takes the clock and the timeout as parameters.
 */
import { slackSignatureHeaders } from './signing.js';

/** How Slack names a failed delivery to the user ("/qnwis failed with the error …"). */
export type DeliveryError =
  | 'dispatch_failed'
  | 'operation_timeout'
  | 'http_client_error'
  | 'http_service_error';

export interface BotAnswer {
  /** The bot's HTTP status, or null when it never answered (refused, reset, timed out). */
  status: number | null;
  /** Parsed JSON when the bot answered JSON, the text otherwise ('' when empty). */
  body: unknown;
  contentType: string | undefined;
  error?: DeliveryError;
  durationMs: number;
}

export interface SendOptions {
  signingSecret: string;
  /** Unix seconds put into `X-Slack-Request-Timestamp` and the signature (default: now). */
  timestampSec?: number;
  /** Slack gives up after 3 s. */
  timeoutMs?: number;
  /** Extra headers (e.g. `X-Slack-Retry-Num`). */
  headers?: Record<string, string>;
  fetch?: typeof globalThis.fetch;
}

/**
 * POSTs a form body to the bot the way Slack does and reports what happened. Never throws:
 * refusals and timeouts come back as `error` (Slack's names), with `status: null`.
 */
export async function sendSignedForm(
  url: string,
  form: URLSearchParams,
  options: SendOptions,
): Promise<BotAnswer> {
  const rawBody = form.toString();
  const timestampSec = options.timestampSec ?? Math.floor(Date.now() / 1000);
  const started = performance.now();
  const fetchFn = options.fetch ?? globalThis.fetch;
  try {
    const response = await fetchFn(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
        Accept: 'application/json,*/*',
        ...slackSignatureHeaders(options.signingSecret, timestampSec, rawBody),
        ...options.headers,
      },
      body: rawBody,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
    });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? undefined;
    let body: unknown = text;
    if (contentType?.includes('json') && text) {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = text;
      }
    }
    const durationMs = Math.round(performance.now() - started);
    const answer: BotAnswer = { status: response.status, body, contentType, durationMs };
    if (response.status >= 500) answer.error = 'http_service_error';
    else if (response.status >= 300) answer.error = 'http_client_error';
    return answer;
  } catch (err) {
    const durationMs = Math.round(performance.now() - started);
    const name = err instanceof Error ? err.name : '';
    const error: DeliveryError =
      name === 'TimeoutError' || name === 'AbortError' ? 'operation_timeout' : 'dispatch_failed';
    return { status: null, body: '', contentType: undefined, error, durationMs };
  }
}

// ------------------------------------------------------------------ payloads

export interface TeamRef {
  id: string;
  domain: string;
}

export interface UserRef {
  id: string;
  name: string;
}

/** Slash command form fields, in the order Slack sends them. */
export function slashCommandForm(input: {
  verificationToken: string;
  team: TeamRef;
  channel: { id: string; name: string };
  user: UserRef;
  command: string;
  text: string;
  apiAppId: string;
  responseUrl: string;
  triggerId: string;
}): URLSearchParams {
  return new URLSearchParams([
    ['token', input.verificationToken],
    ['team_id', input.team.id],
    ['team_domain', input.team.domain],
    ['channel_id', input.channel.id],
    ['channel_name', input.channel.name],
    ['user_id', input.user.id],
    ['user_name', input.user.name],
    ['command', input.command],
    ['text', input.text],
    ['api_app_id', input.apiAppId],
    ['is_enterprise_install', 'false'],
    ['response_url', input.responseUrl],
    ['trigger_id', input.triggerId],
  ]);
}

/** An interaction: one form field `payload` with the JSON. */
export function interactionForm(payload: unknown): URLSearchParams {
  return new URLSearchParams([['payload', JSON.stringify(payload)]]);
}

export interface BlockAction {
  type: string;
  action_id: string;
  block_id: string;
  action_ts: string;
  text?: unknown;
  value?: string;
  style?: string;
  selected_option?: unknown;
  selected_options?: unknown[];
  placeholder?: unknown;
  confirm?: unknown;
  url?: string;
}

export function blockActionsPayload(input: {
  verificationToken: string;
  team: TeamRef;
  user: UserRef;
  apiAppId: string;
  triggerId: string;
  channel: { id: string; name: string };
  /** The message the element is in; omitted for ephemeral messages, as Slack does. */
  message: Record<string, unknown> | undefined;
  messageTs: string;
  threadTs: string | undefined;
  isEphemeral: boolean;
  responseUrl: string;
  action: BlockAction;
  stateValues: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: input.user.id, username: input.user.name, name: input.user.name, team_id: input.team.id },
    api_app_id: input.apiAppId,
    token: input.verificationToken,
    container: {
      type: 'message',
      message_ts: input.messageTs,
      channel_id: input.channel.id,
      is_ephemeral: input.isEphemeral,
      ...(input.threadTs ? { thread_ts: input.threadTs } : {}),
    },
    trigger_id: input.triggerId,
    team: { id: input.team.id, domain: input.team.domain },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: input.channel.id, name: input.channel.name },
    ...(input.message ? { message: input.message } : {}),
    state: { values: input.stateValues },
    response_url: input.responseUrl,
    actions: [input.action],
  };
}

export function viewSubmissionPayload(input: {
  verificationToken: string;
  team: TeamRef;
  user: UserRef;
  apiAppId: string;
  triggerId: string;
  view: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: input.team.id, domain: input.team.domain },
    user: { id: input.user.id, username: input.user.name, name: input.user.name, team_id: input.team.id },
    api_app_id: input.apiAppId,
    token: input.verificationToken,
    trigger_id: input.triggerId,
    view: input.view,
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}
