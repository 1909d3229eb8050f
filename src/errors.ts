/**
 * Every error the bot raises on purpose. Each class sets `name` and a stable string `code`
 * (bolt-js habit) so logs, metrics and retry policy can branch on the code, never on a message.
 *
 * `transient` says whether retrying the same operation later may succeed (timeouts, refused
 * connections, 429/5xx). Permanent errors (bad input, denied, unknown host, host-key mismatch)
 * must never be retried: retrying them only hides the problem from the operator.
 *
 * Only a `UserFacingError`'s message may reach Slack; anything else is logged with `{ err }`
 * and the user sees a short reference id.
 */
export abstract class QnwisError extends Error {
  abstract readonly code: string;
  readonly transient: boolean;

  constructor(message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.transient = options.transient ?? false;
  }
}

/** Text that is safe and useful to show to the person in Slack. */
export class UserFacingError extends QnwisError {
  readonly code = 'user_facing';
}

/** One problem found in configuration or inventory: `path` names the exact variable or key. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Configuration or inventory is invalid; the process must not start. */
export class ConfigError extends QnwisError {
  readonly code = 'config_invalid';
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(`${source} is invalid:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.issues = issues;
  }
}

/** A host name that is not in the inventory, or lacks the role the caller needs. */
export class UnknownHostError extends QnwisError {
  readonly code = 'unknown_host';
  readonly host: string;
  constructor(host: string, detail = 'is not in the inventory') {
    super(`host "${host}" ${detail}`);
    this.host = host;
  }
}

/** An argument to a command template failed validation; nothing was sent to the host. */
export class InvalidArgumentError extends QnwisError {
  readonly code = 'invalid_argument';
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** Normalises anything thrown into an Error so it can be logged with `{ err }`. */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

/**
 * The host's sshd could not be reached (refused, unreachable, connect timeout) or the connection
 * dropped. `phase` says whether anything was sent: `connect` means the command never started, so a
 * retry is safe; `exec` means the connection died while the command ran, so it may or may not have
 * run (never retry a destructive command blindly on that).
 */
export class SshUnreachableError extends QnwisError {
  readonly code = 'ssh_unreachable';
  readonly host: string;
  readonly phase: 'connect' | 'exec';

  constructor(
    host: string,
    detail: string,
    options: { cause?: unknown; phase?: 'connect' | 'exec'; transient?: boolean } = {},
  ) {
    super(`ssh to host "${host}": ${detail}`, { cause: options.cause, transient: options.transient ?? true });
    this.host = host;
    this.phase = options.phase ?? 'connect';
  }
}

/** The host refused our client key (or the key could not be read). Permanent: fix the key or authorized_keys. */
export class SshAuthError extends QnwisError {
  readonly code = 'ssh_auth_failed';
  readonly host: string;

  constructor(host: string, detail: string, options: { cause?: unknown } = {}) {
    super(`ssh to host "${host}": ${detail}`, { cause: options.cause });
    this.host = host;
  }
}

/**
 * The host presented a key that is not the pinned one, or no key is pinned for it at all
 * (`presented` is then the key we saw, if we got that far). Permanent, and possibly an attack:
 * never retried, never "accepted on first use".
 */
export class SshHostKeyMismatchError extends QnwisError {
  readonly code = 'ssh_host_key_mismatch';
  readonly host: string;
  /** Pinned fingerprints ("SHA256:…"); empty when nothing is pinned. */
  readonly expected: readonly string[];
  readonly presented: string | undefined;

  constructor(host: string, expected: readonly string[], presented: string | undefined, detail?: string) {
    const what =
      expected.length === 0
        ? `no pinned host key${detail ? ` (${detail})` : ''}; refusing to connect`
        : `host key mismatch: expected ${expected.join(' or ')}, presented ${presented ?? '(none)'}`;
    super(`ssh to host "${host}": ${what}`);
    this.host = host;
    this.expected = expected;
    this.presented = presented;
  }
}

/**
 * A remote command ran out of time. `phase`: `remote` — the host's `timeout` killed it (exit
 * 124/137); `local` — our own deadline expired and we closed the channel (the remote `timeout`
 * still bounds the process); `queue` — it never got a session slot on the host's connection.
 */
export class SshTimeoutError extends QnwisError {
  readonly code = 'ssh_timeout';
  readonly host: string;
  readonly command: string;
  readonly timeoutSec: number;
  readonly phase: 'remote' | 'local' | 'queue';

  constructor(host: string, command: string, timeoutSec: number, phase: 'remote' | 'local' | 'queue') {
    const how =
      phase === 'queue'
        ? 'waited too long for a free SSH session'
        : `did not finish within ${timeoutSec} s (${phase === 'remote' ? 'killed on the host' : 'local deadline'})`;
    super(`command "${command}" on host "${host}" ${how}`, { transient: true });
    this.host = host;
    this.command = command;
    this.timeoutSec = timeoutSec;
    this.phase = phase;
  }
}

/** A remote command exited with a code outside its `okExitCodes` (or was killed by a signal). */
export class SshExitError extends QnwisError {
  readonly code = 'ssh_nonzero_exit';
  readonly host: string;
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last part of stderr (at most ~500 characters), for the log and the operator. */
  readonly stderrExcerpt: string;

  constructor(host: string, command: string, exitCode: number | null, signal: string | null, stderr: string) {
    const excerpt = stderr.length > 500 ? `…${stderr.slice(-500)}` : stderr;
    const status =
      exitCode === null ? `was killed by ${signal ?? 'an unknown signal'}` : `exited ${exitCode}`;
    super(`command "${command}" on host "${host}" ${status}${excerpt.trim() ? `: ${excerpt.trim()}` : ''}`);
    this.host = host;
    this.command = command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrExcerpt = excerpt;
  }
}

/**
 * A database host could not be reached: refused, unreachable, connect timeout, the server is
 * starting or shutting down, or the connection dropped mid-statement (57P01…57P03, class 08).
 * Transient: the same read may succeed later. A write that died this way may or may not have run.
 */
export class DatabaseUnreachableError extends QnwisError {
  readonly code = 'db_unreachable';
  readonly host: string;
  constructor(host: string, detail: string, options: { cause?: unknown } = {}) {
    super(`database on host "${host}" is unreachable: ${detail}`, { cause: options.cause, transient: true });
    this.host = host;
  }
}

/**
 * A statement ran out of time: `statement` — the server's statement_timeout cancelled it (57014);
 * `client` — our own query timeout fired first (the server-side timeout still bounds the backend).
 */
export class DatabaseTimeoutError extends QnwisError {
  readonly code = 'db_timeout';
  readonly host: string;
  readonly timeoutMs: number;
  readonly phase: 'statement' | 'client';
  constructor(
    host: string,
    timeoutMs: number,
    phase: 'statement' | 'client',
    options: { cause?: unknown } = {},
  ) {
    const by = phase === 'statement' ? 'cancelled by statement_timeout' : 'client-side query timeout';
    super(`database on host "${host}": statement did not finish within ${timeoutMs} ms (${by})`, {
      cause: options.cause,
      transient: true,
    });
    this.host = host;
    this.timeoutMs = timeoutMs;
    this.phase = phase;
  }
}

/**
 * A write reached a server in recovery (a standby): SQLSTATE 25006. Permanent for that host until
 * someone promotes it; retrying the same host only repeats the refusal.
 */
export class DatabaseReadOnlyError extends QnwisError {
  readonly code = 'db_read_only';
  readonly host: string;
  readonly sqlState = '25006';
  constructor(host: string, options: { cause?: unknown } = {}) {
    super(`database on host "${host}" is read-only (in recovery): the write was refused`, {
      cause: options.cause,
    });
    this.host = host;
  }
}

/**
 * Any other error the server reported, with its SQLSTATE (`42501` insufficient privilege,
 * `28P01` bad password, `3D000` no such database, …). Transient only for the classes where a retry
 * can succeed: 40 (serialization failure, deadlock) and 53 (insufficient resources).
 */
export class DatabaseError extends QnwisError {
  readonly code = 'db_error';
  readonly host: string;
  /** Five-character SQLSTATE, or undefined when the failure did not come from the server. */
  readonly sqlState: string | undefined;
  constructor(host: string, detail: string, sqlState: string | undefined, options: { cause?: unknown } = {}) {
    const transient = sqlState !== undefined && (sqlState.startsWith('40') || sqlState.startsWith('53'));
    super(`database on host "${host}": ${detail}${sqlState ? ` (SQLSTATE ${sqlState})` : ''}`, {
      cause: options.cause,
      transient,
    });
    this.host = host;
    this.sqlState = sqlState;
  }
}

/** A Redis host could not be reached (refused, connect timeout, connection lost). Transient. */
export class CacheUnreachableError extends QnwisError {
  readonly code = 'cache_unreachable';
  readonly host: string;
  constructor(host: string, detail: string, options: { cause?: unknown } = {}) {
    super(`redis on host "${host}" is unreachable: ${detail}`, { cause: options.cause, transient: true });
    this.host = host;
  }
}

/** A Redis command got no reply within the command timeout. Transient; a write may have applied. */
export class CacheTimeoutError extends QnwisError {
  readonly code = 'cache_timeout';
  readonly host: string;
  readonly command: string;
  readonly timeoutMs: number;
  constructor(host: string, command: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    super(`redis on host "${host}": ${command} got no reply within ${timeoutMs} ms`, {
      cause: options.cause,
      transient: true,
    });
    this.host = host;
    this.command = command;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Redis answered with an error reply. `reply` is its first word (`READONLY`, `NOAUTH`, `WRONGPASS`,
 * `LOADING`, …). Only `LOADING` and `BUSY` (the server is busy, not wrong) are transient.
 */
export class CacheError extends QnwisError {
  readonly code = 'cache_error';
  readonly host: string;
  readonly reply: string | undefined;
  constructor(
    host: string,
    command: string,
    detail: string,
    reply: string | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(`redis on host "${host}": ${command} failed: ${detail}`, {
      cause: options.cause,
      transient: reply === 'LOADING' || reply === 'BUSY',
    });
    this.host = host;
    this.reply = reply;
  }
}

/** An HTTP request got no complete answer within its deadline. Transient. */
export class HttpTimeoutError extends QnwisError {
  readonly code = 'http_timeout';
  /** Origin and path only: query strings and credentials are never kept. */
  readonly url: string;
  readonly timeoutMs: number;
  constructor(url: string, timeoutMs: number, options: { cause?: unknown } = {}) {
    super(`${url} did not answer within ${timeoutMs} ms`, { cause: options.cause, transient: true });
    this.url = url;
    this.timeoutMs = timeoutMs;
  }
}

/** The HTTP endpoint could not be reached (refused, DNS, reset before a response). Transient. */
export class HttpUnreachableError extends QnwisError {
  readonly code = 'http_unreachable';
  readonly url: string;
  constructor(url: string, detail: string, options: { cause?: unknown } = {}) {
    super(`${url} is unreachable: ${detail}`, { cause: options.cause, transient: true });
    this.url = url;
  }
}

/**
 * The endpoint answered with a status outside 2xx. Transient for 429 and 5xx (the server may
 * recover), permanent otherwise (401/403/404 will not fix themselves). `bodyExcerpt` is at most the
 * first 500 characters of the body, with the bearer token (if it was echoed) removed.
 */
export class HttpStatusError extends QnwisError {
  readonly code = 'http_status';
  readonly url: string;
  readonly status: number;
  readonly bodyExcerpt: string;
  constructor(url: string, status: number, bodyExcerpt: string) {
    super(`${url} answered HTTP ${status}${bodyExcerpt ? `: ${bodyExcerpt.slice(0, 200)}` : ''}`, {
      transient: status === 429 || status >= 500,
    });
    this.url = url;
    this.status = status;
    this.bodyExcerpt = bodyExcerpt;
  }
}

// ---- The bot's own stores ------------------------------------------------------------------

/**
 * The bot's database or queue cannot take a write right now. Webhook handlers answer 503 so the
 * sender (Alertmanager, PagerDuty) retries: nothing acknowledged may be lost.
 */
export class StoreUnavailableError extends QnwisError {
  readonly code = 'store_unavailable';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, transient: true });
  }
}

// ---- Slack and PagerDuty delivery ----------------------------------------------------------

/** Slack answered 429: retry after `retryAfterSec` for this channel only. */
export class SlackRateLimitedError extends QnwisError {
  readonly code = 'slack_rate_limited';
  readonly retryAfterSec: number;
  constructor(method: string, retryAfterSec: number) {
    super(`Slack rate-limited ${method}; retry after ${retryAfterSec} s`, { transient: true });
    this.retryAfterSec = retryAfterSec;
  }
}

/**
 * Slack refused the call for a reason retrying cannot fix (`invalid_blocks`, `msg_too_long`,
 * `channel_not_found`, `invalid_auth`, …). `invalid_blocks` is a bug in a builder: logged loudly
 * with the payload, never retried.
 */
export class SlackRejectedError extends QnwisError {
  readonly code = 'slack_rejected';
  readonly slackError: string;
  constructor(method: string, slackError: string, options: { cause?: unknown } = {}) {
    super(`Slack refused ${method}: ${slackError}`, options);
    this.slackError = slackError;
  }
}

/** Slack could not be reached or answered 5xx: retried with backoff. */
export class SlackUnavailableError extends QnwisError {
  readonly code = 'slack_unavailable';
  constructor(method: string, options: { cause?: unknown } = {}) {
    super(`Slack unavailable for ${method}`, { ...options, transient: true });
  }
}

/** PagerDuty answered 429 or 5xx, or could not be reached: the event was not ingested; retry later, in order. */
export class PagerDutyUnavailableError extends QnwisError {
  readonly code = 'pagerduty_unavailable';
  readonly retryAfterMs: number;
  /** PagerDuty answered 429 (rather than 5xx or nothing). */
  readonly rateLimited: boolean;
  constructor(
    message: string,
    retryAfterMs: number,
    options: { cause?: unknown; rateLimited?: boolean } = {},
  ) {
    super(message, { cause: options.cause, transient: true });
    this.retryAfterMs = retryAfterMs;
    this.rateLimited = options.rateLimited ?? false;
  }
}

/** PagerDuty refused the event as invalid (400): never retried. */
export class PagerDutyRejectedError extends QnwisError {
  readonly code = 'pagerduty_rejected';
  /** The HTTP status PagerDuty answered (4xx), when known. */
  readonly status: number | null;
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause });
    this.status = options.status ?? null;
  }
}

// ---- Alertmanager --------------------------------------------------------------------------

/** Alertmanager did not answer in time, refused the connection, or answered 429/5xx. Transient. */
export class AlertmanagerUnavailableError extends QnwisError {
  readonly code = 'alertmanager_unavailable';
  /** Origin and path only. */
  readonly url: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  constructor(url: string, detail: string, options: { cause?: unknown; status?: number | null } = {}) {
    super(`Alertmanager at ${url} is unavailable: ${detail}`, { cause: options.cause, transient: true });
    this.url = url;
    this.status = options.status ?? null;
  }
}

/** Alertmanager refused the request (4xx): an invalid silence or id. Permanent. */
export class AlertmanagerRejectedError extends QnwisError {
  readonly code = 'alertmanager_rejected';
  readonly url: string;
  readonly status: number;
  /** Alertmanager's own words, at most 300 characters. */
  readonly reason: string;
  constructor(url: string, status: number, reason: string) {
    super(`Alertmanager at ${url} refused the request (HTTP ${status}): ${reason}`);
    this.url = url;
    this.status = status;
    this.reason = reason;
  }
}

/** No silence with this id (never existed, or dropped after its retention). Permanent. */
export class SilenceNotFoundError extends QnwisError {
  readonly code = 'alertmanager_silence_not_found';
  readonly silenceId: string;
  constructor(silenceId: string) {
    super(`Alertmanager has no silence ${silenceId}`);
    this.silenceId = silenceId;
  }
}

// ---- Prometheus ----------------------------------------------------------------------------

/**
 * Prometheus could not answer the query right now: unreachable, no answer within the deadline,
 * HTTP 429/5xx, or its own query timeout (`errorType` `timeout`, `canceled`, `unavailable`).
 * Transient: the same query may succeed later. `url` is origin and path only.
 */
export class PrometheusUnavailableError extends QnwisError {
  readonly code = 'prometheus_unavailable';
  readonly url: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  constructor(url: string, detail: string, options: { cause?: unknown; status?: number | null } = {}) {
    super(`Prometheus at ${url} is unavailable: ${detail}`, { cause: options.cause, transient: true });
    this.url = url;
    this.status = options.status ?? null;
  }
}

/**
 * Prometheus refused the query (`bad_data`: the expression does not parse; `execution`: it cannot
 * be evaluated, e.g. many-to-many matching) or answered something that is not a range result
 * (`errorType` `bad_response`). Permanent: the same query fails the same way.
 */
export class PrometheusQueryError extends QnwisError {
  readonly code = 'prometheus_query_failed';
  readonly url: string;
  readonly status: number | null;
  /** Prometheus's `errorType` (`bad_data`, `execution`, …), or `bad_response`. */
  readonly errorType: string;
  /** Prometheus's `error` text. */
  readonly error: string;
  constructor(url: string, errorType: string, error: string, options: { status?: number | null } = {}) {
    super(`Prometheus at ${url} refused the query (${errorType}): ${error.slice(0, 300)}`);
    this.url = url;
    this.status = options.status ?? null;
    this.errorType = errorType;
    this.error = error;
  }
}
