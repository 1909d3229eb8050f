/**
 * HTTP probe client for the fleet's endpoints (`/health`, `/health/detailed`, `/admin/maintenance`,
 * the load balancer, Prometheus and Alertmanager APIs): global fetch with a hard deadline per
 * request (`AbortSignal.timeout`, covering connect, headers and body).
 *
 * - Failures are typed: `HttpTimeoutError`, `HttpUnreachableError` (both transient) and
 *   `HttpStatusError` (status + the first 500 characters of the body). `checkHealth` turns all of
 *   them into a result instead, because "unhealthy" is an answer, not an exception.
 * - Bearer tokens are only ever put in the Authorization header. Error messages carry the URL's
 *   origin and path (no query string, no user-info) and a body excerpt with the token cut out.
 * - Redirects are not followed: a health endpoint that redirects is misconfigured, and following
 *   one could carry the token to another origin.
 */
import { performance } from 'node:perf_hooks';
import {
  HttpStatusError,
  HttpTimeoutError,
  HttpUnreachableError,
  InvalidArgumentError,
} from '../../errors.js';

export const DEFAULT_HTTP_TIMEOUT_MS = 5_000;
const BODY_EXCERPT_CHARS = 500;
/** Responses larger than this are cut off before parsing (a probe never needs more). */
const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpProbeOptions {
  /** Sent as `Authorization: Bearer …`. */
  readonly bearerToken?: string;
  /** Deadline for the whole exchange. Default 5000 ms. */
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** For tests and stand-ins; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface HealthResult {
  /** 2xx within the deadline. */
  readonly ok: boolean;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  readonly latencyMs: number;
  /** Parsed JSON when the response is JSON, else the first 500 characters of text. */
  readonly body?: unknown;
  /** Why there was no response: the typed error's code (`http_timeout`, `http_unreachable`). */
  readonly error?: { readonly code: string; readonly message: string };
}

/** GET `url` and parse the JSON body (unknown: the caller validates it with zod). */
export async function getJson(url: string, opts: HttpProbeOptions = {}): Promise<unknown> {
  const res = await request('GET', url, undefined, opts);
  return parseJson(res.url, res.text, opts.bearerToken);
}

/** POST `body` as JSON to `url` and parse the JSON answer (null for an empty body, e.g. 204). */
export async function postJson(url: string, body: unknown, opts: HttpProbeOptions = {}): Promise<unknown> {
  const res = await request('POST', url, JSON.stringify(body), opts);
  return parseJson(res.url, res.text, opts.bearerToken);
}

/** GET a health endpoint: any outcome is a result (`ok` only for 2xx), never an exception. */
export async function checkHealth(url: string, opts: HttpProbeOptions = {}): Promise<HealthResult> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  try {
    const res = await request('GET', url, undefined, opts);
    return { ok: true, status: res.status, latencyMs: latency(), body: bodyValue(res.text, res.contentType) };
  } catch (err) {
    if (err instanceof HttpStatusError) {
      return {
        ok: false,
        status: err.status,
        latencyMs: latency(),
        body: bodyValue(err.bodyExcerpt, undefined),
      };
    }
    if (err instanceof HttpTimeoutError || err instanceof HttpUnreachableError) {
      return {
        ok: false,
        status: null,
        latencyMs: latency(),
        error: { code: err.code, message: err.message },
      };
    }
    throw err;
  }
}

/** Origin + path only: query strings may carry tokens, user-info carries passwords. */
export function safeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

interface RawResponse {
  readonly url: string;
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

async function request(
  method: 'GET' | 'POST',
  rawUrl: string,
  body: string | undefined,
  opts: HttpProbeOptions,
): Promise<RawResponse> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new InvalidArgumentError('not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('only http(s) URLs are probed');
  const where = safeUrl(url);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new InvalidArgumentError('timeoutMs must be positive');
  if (opts.bearerToken !== undefined && !/^[\x21-\x7e]+$/.test(opts.bearerToken)) {
    // A newline or space in a header value would be rejected by fetch with the value in the message.
    throw new InvalidArgumentError('the bearer token contains characters not allowed in a header');
  }

  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.bearerToken !== undefined) headers.authorization = `Bearer ${opts.bearerToken}`;

  const signal = AbortSignal.timeout(timeoutMs);
  const doFetch = opts.fetch ?? fetch;
  try {
    const res = await doFetch(url, { method, headers, body, signal, redirect: 'manual' });
    const text = await readCapped(res);
    if (res.status < 200 || res.status > 299) {
      throw new HttpStatusError(
        where,
        res.status,
        redact(text, opts.bearerToken).slice(0, BODY_EXCERPT_CHARS),
      );
    }
    return { url: where, status: res.status, contentType: res.headers.get('content-type') ?? '', text };
  } catch (err) {
    if (err instanceof HttpStatusError) throw err;
    throw classifyFetchError(err, where, timeoutMs, signal);
  }
}

function classifyFetchError(err: unknown, where: string, timeoutMs: number, signal: AbortSignal): Error {
  const name = (err as { name?: unknown })?.name;
  if (name === 'TimeoutError' || (name === 'AbortError' && signal.aborted)) {
    return new HttpTimeoutError(where, timeoutMs, { cause: err });
  }
  // undici: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED', … } }); a reset mid-body
  // surfaces as a TypeError from the body stream ('terminated').
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail =
    code ?? (typeof cause?.message === 'string' ? cause.message : (err as Error)?.message) ?? 'failed';
  return new HttpUnreachableError(where, String(detail), { cause: err });
}

/** Reads at most `maxBytes` of the body (default 1 MiB), still under the request's deadline. */
export async function readCapped(res: Response, maxBytes = MAX_BODY_BYTES): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= maxBytes) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, maxBytes));
}

function parseJson(where: string, text: string, token: string | undefined): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    // A 2xx that is not JSON (an HTML error page from a proxy): report what came back, as a status error.
    throw new HttpStatusError(
      where,
      200,
      `expected JSON: ${redact(text, token).slice(0, BODY_EXCERPT_CHARS)}`,
    );
  }
}

function bodyValue(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined;
  // A status error keeps no content type: JSON-looking text is tried as JSON (it may be cut at 500).
  if (contentType === undefined ? /^\s*[[{]/.test(text) : contentType.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      // fall through to text
    }
  }
  return text.slice(0, BODY_EXCERPT_CHARS);
}

function redact(text: string, token: string | undefined): string {
  return token ? text.replaceAll(token, '[redacted]') : text;
}
