/**
 * Alertmanager API v2 silences (CONTRACTS.md "Silences API"): create, read, list and expire, with
 * global fetch and a hard deadline per request (`AbortSignal.timeout`, covering connect, headers and
 * body). Measured against the lab's Alertmanager 0.25:
 *
 * - `POST /api/v2/silences` → 200 `{ silenceID }`; an invalid silence is 400 with a JSON string body
 *   ("silence invalid: at least one matcher must not match the empty string", "Failed to create
 *   silence: start time must be before end time"). A `startsAt` in the past is moved to "now" by
 *   Alertmanager; `endsAt` is kept to the millisecond.
 * - `GET /api/v2/silence/{id}` → 200 or 404 (unknown id).
 * - `DELETE /api/v2/silence/{id}` → 200, also for a silence that is already expired (expiring is
 *   idempotent); an unknown id is 500 `"silence not found"`; a malformed id is 422.
 * - `GET /api/v2/silences` lists expired silences too (until Alertmanager's retention drops them).
 *
 * Failures are typed: `AlertmanagerUnavailableError` (transient: no answer in time, refused, 429,
 * 5xx), `AlertmanagerRejectedError` (permanent: 4xx, the request itself is wrong),
 * `SilenceNotFoundError`. Silences are validated before anything is sent (`validateSilenceSpec`), so
 * a matcher that would silence everything never reaches Alertmanager. Redirects are not followed.
 */
import { z } from 'zod';
import {
  AlertmanagerRejectedError,
  AlertmanagerUnavailableError,
  InvalidArgumentError,
  SilenceNotFoundError,
} from '../../errors.js';
import { readCapped, safeUrl } from './http.js';

export const DEFAULT_ALERTMANAGER_TIMEOUT_MS = 5_000;
/** Alertmanager has no documented limit; a comment longer than this is a bug on our side. */
export const MAX_SILENCE_COMMENT_CHARS = 1_000;
const BODY_EXCERPT_CHARS = 300;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Prometheus label names (the data model's rule). */
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Alertmanager's silence ids are UUIDs; anything else is refused before it is put into a path. */
const SILENCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---- Data ------------------------------------------------------------------------------------

export interface SilenceMatcher {
  readonly name: string;
  readonly value: string;
  readonly isRegex: boolean;
  /** false: `!=` / `!~`. Default true. */
  readonly isEqual: boolean;
}

export interface SilenceSpec {
  readonly matchers: readonly SilenceMatcher[];
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly createdBy: string;
  readonly comment: string;
}

export type SilenceState = 'active' | 'pending' | 'expired';

export interface Silence {
  readonly id: string;
  readonly state: SilenceState;
  readonly matchers: readonly SilenceMatcher[];
  /** ISO-8601 as Alertmanager reports them. */
  readonly startsAt: string;
  readonly endsAt: string;
  readonly updatedAt: string;
  readonly createdBy: string;
  readonly comment: string;
}

const matcherSchema = z.looseObject({
  name: z.string(),
  value: z.string(),
  isRegex: z.boolean(),
  isEqual: z.boolean().optional(),
});

const silenceSchema = z.looseObject({
  id: z.string(),
  status: z.looseObject({ state: z.enum(['active', 'pending', 'expired']) }),
  matchers: z.array(matcherSchema),
  startsAt: z.string(),
  endsAt: z.string(),
  updatedAt: z.string(),
  createdBy: z.string(),
  comment: z.string(),
});

function toSilence(raw: z.infer<typeof silenceSchema>): Silence {
  return {
    id: raw.id,
    state: raw.status.state,
    matchers: raw.matchers.map((m) => ({
      name: m.name,
      value: m.value,
      isRegex: m.isRegex,
      isEqual: m.isEqual ?? true,
    })),
    startsAt: raw.startsAt,
    endsAt: raw.endsAt,
    updatedAt: raw.updatedAt,
    createdBy: raw.createdBy,
    comment: raw.comment,
  };
}

/** `service="qnwis"`, `job=~"a|b"`, `env!="dev"`: how Alertmanager's UI and amtool write a matcher. */
export function formatMatcher(m: SilenceMatcher): string {
  const op = m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=';
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

/** Whether `m` matches a label that is absent (Alertmanager treats absent as the empty string). */
export function matchesEmpty(m: SilenceMatcher): boolean {
  let hit: boolean;
  if (m.isRegex) {
    let re: RegExp;
    try {
      // Alertmanager anchors regex matchers.
      re = new RegExp(`^(?:${m.value})$`);
    } catch {
      return false;
    }
    hit = re.test('');
  } else {
    hit = m.value === '';
  }
  return m.isEqual ? hit : !hit;
}

/**
 * Refuses (`InvalidArgumentError`) a silence Alertmanager would refuse, and one it would accept but
 * that is never what a bot should create: without matchers, with every matcher also matching
 * alerts that lack the label (that silences everything), ending in the past, or without an author
 * and a comment.
 */
export function validateSilenceSpec(spec: SilenceSpec, now: Date): void {
  if (spec.matchers.length === 0) throw new InvalidArgumentError('a silence needs at least one matcher');
  for (const m of spec.matchers) {
    if (!LABEL_NAME.test(m.name))
      throw new InvalidArgumentError(`silence matcher label ${JSON.stringify(m.name)} is not a label name`);
    if (m.isRegex) {
      try {
        new RegExp(m.value);
      } catch {
        throw new InvalidArgumentError(
          `silence matcher ${formatMatcher(m)} is not a valid regular expression`,
        );
      }
    }
  }
  if (spec.matchers.every(matchesEmpty))
    throw new InvalidArgumentError(
      'every matcher of the silence also matches alerts without that label: it would silence everything',
    );
  const starts = spec.startsAt.getTime();
  const ends = spec.endsAt.getTime();
  if (!Number.isFinite(starts) || !Number.isFinite(ends))
    throw new InvalidArgumentError('silence start and end must be valid times');
  if (ends <= starts) throw new InvalidArgumentError('a silence must end after it starts');
  if (ends <= now.getTime()) throw new InvalidArgumentError('a silence must end in the future');
  if (spec.createdBy.trim() === '') throw new InvalidArgumentError('a silence needs createdBy');
  if (spec.comment.trim() === '') throw new InvalidArgumentError('a silence needs a comment');
  if (spec.comment.length > MAX_SILENCE_COMMENT_CHARS)
    throw new InvalidArgumentError(`a silence comment is limited to ${MAX_SILENCE_COMMENT_CHARS} characters`);
}

// ---- The port and its HTTP adapter -----------------------------------------------------------

/**
 * What commands need from Alertmanager. Every method rejects with one of this module's typed
 * errors (or `InvalidArgumentError` before anything is sent); none retries by itself.
 */
export interface AlertmanagerSilences {
  /** Base URL (for links in messages), e.g. http://127.0.0.1:9093. */
  readonly url: string;
  /** Creates the silence; resolves with its id. */
  createSilence(spec: SilenceSpec): Promise<string>;
  /** The silence, or undefined when Alertmanager does not know the id. */
  getSilence(id: string): Promise<Silence | undefined>;
  /** Every silence Alertmanager holds, expired ones included, optionally narrowed by `filter` matchers. */
  listSilences(filter?: readonly SilenceMatcher[]): Promise<Silence[]>;
  /** Expires the silence now (idempotent for an already expired one); `SilenceNotFoundError` if unknown. */
  expireSilence(id: string): Promise<void>;
}

export interface AlertmanagerClientOptions {
  /** Alertmanager's base URL (the inventory's `monitoring.alertmanager_url`). */
  readonly url: string;
  /** Deadline for each request. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Clock for validation (a silence must end in the future). */
  readonly now?: () => Date;
  /** For tests and stand-ins; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export class AlertmanagerClient implements AlertmanagerSilences {
  readonly url: string;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly now: () => Date;
  private readonly doFetch: typeof fetch;

  constructor(opts: AlertmanagerClientOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new InvalidArgumentError('the Alertmanager URL is not a valid URL');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new InvalidArgumentError('the Alertmanager URL must be http(s)');
    if (!base.pathname.endsWith('/')) base.pathname = `${base.pathname}/`;
    this.base = base;
    this.url = `${base.origin}${base.pathname.replace(/\/$/, '')}`;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_ALERTMANAGER_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0)
      throw new InvalidArgumentError('timeoutMs must be positive');
    this.now = opts.now ?? (() => new Date());
    this.doFetch = opts.fetch ?? fetch;
  }

  async createSilence(spec: SilenceSpec): Promise<string> {
    validateSilenceSpec(spec, this.now());
    const body = {
      matchers: spec.matchers.map((m) => ({
        name: m.name,
        value: m.value,
        isRegex: m.isRegex,
        isEqual: m.isEqual,
      })),
      startsAt: spec.startsAt.toISOString(),
      endsAt: spec.endsAt.toISOString(),
      createdBy: spec.createdBy,
      comment: spec.comment,
    };
    const res = await this.request('POST', 'api/v2/silences', body);
    const parsed = z.looseObject({ silenceID: z.string().regex(SILENCE_ID) }).safeParse(res.json);
    if (!parsed.success)
      throw new AlertmanagerUnavailableError(
        res.where,
        'the answer to POST /api/v2/silences has no silenceID',
      );
    return parsed.data.silenceID;
  }

  async getSilence(id: string): Promise<Silence | undefined> {
    const res = await this.request('GET', `api/v2/silence/${checkedId(id)}`, undefined, [404]);
    if (res.status === 404) return undefined;
    return parseSilence(res.where, res.json);
  }

  async listSilences(filter: readonly SilenceMatcher[] = []): Promise<Silence[]> {
    const params = new URLSearchParams();
    for (const m of filter) params.append('filter', formatMatcher(m));
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const res = await this.request('GET', `api/v2/silences${query}`);
    if (!Array.isArray(res.json))
      throw new AlertmanagerUnavailableError(res.where, 'the silence list is not a JSON array');
    return res.json.map((s) => parseSilence(res.where, s));
  }

  async expireSilence(id: string): Promise<void> {
    const checked = checkedId(id);
    try {
      await this.request('DELETE', `api/v2/silence/${checked}`);
    } catch (err) {
      // 0.25 answers an unknown id with 500 "silence not found" (not 404).
      if (
        err instanceof AlertmanagerUnavailableError &&
        err.status !== null &&
        /silence not found/i.test(err.message)
      )
        throw new SilenceNotFoundError(checked);
      throw err;
    }
  }

  private async request(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    allowStatus: readonly number[] = [],
  ): Promise<{ where: string; status: number; json: unknown }> {
    const url = new URL(path, this.base);
    const where = safeUrl(url);
    const signal = AbortSignal.timeout(this.timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await this.doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        redirect: 'manual',
      });
      text = await readCapped(res, MAX_BODY_BYTES);
    } catch (err) {
      const name = (err as { name?: unknown })?.name;
      if (name === 'TimeoutError' || (name === 'AbortError' && signal.aborted))
        throw new AlertmanagerUnavailableError(where, `no answer within ${this.timeoutMs} ms`, {
          cause: err,
        });
      const cause = (err as { cause?: { code?: unknown } })?.cause;
      const code = typeof cause?.code === 'string' ? cause.code : 'request failed';
      throw new AlertmanagerUnavailableError(where, code, { cause: err });
    }
    if (allowStatus.includes(res.status)) return { where, status: res.status, json: undefined };
    if (res.status < 200 || res.status > 299) {
      const reason = reasonOf(text);
      if (res.status === 429 || res.status >= 500)
        throw new AlertmanagerUnavailableError(where, `HTTP ${res.status}: ${reason}`, {
          status: res.status,
        });
      throw new AlertmanagerRejectedError(where, res.status, reason);
    }
    if (text.trim() === '') return { where, status: res.status, json: null };
    try {
      return { where, status: res.status, json: JSON.parse(text) };
    } catch {
      throw new AlertmanagerUnavailableError(where, `HTTP ${res.status} with a body that is not JSON`, {
        status: res.status,
      });
    }
  }
}

function checkedId(id: string): string {
  if (!SILENCE_ID.test(id)) throw new InvalidArgumentError('not an Alertmanager silence id');
  return id.toLowerCase();
}

function parseSilence(where: string, raw: unknown): Silence {
  const parsed = silenceSchema.safeParse(raw);
  if (!parsed.success)
    throw new AlertmanagerUnavailableError(where, 'a silence in the answer has an unknown shape');
  return toSilence(parsed.data);
}

/** Alertmanager's error bodies are a JSON string, or `{ code, message }` (go-openapi), or text. */
function reasonOf(text: string): string {
  let reason = text.trim();
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'string') reason = json;
    else if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string')
      reason = (json as { message: string }).message;
  } catch {
    // plain text
  }
  const flat = reason.replace(/\s+/g, ' ').trim();
  return (
    (flat.length > BODY_EXCERPT_CHARS ? `${flat.slice(0, BODY_EXCERPT_CHARS - 1)}…` : flat) || '(no body)'
  );
}
