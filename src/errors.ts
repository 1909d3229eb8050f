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
