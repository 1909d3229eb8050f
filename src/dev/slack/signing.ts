/**
 * Slack's request signing (v0), as bolt-js `verify-request.ts` checks it:
 * `X-Slack-Signature: v0=hex(HMAC-SHA256(signingSecret, "v0:" + timestamp + ":" + rawBody))` with the
 * timestamp in `X-Slack-Request-Timestamp` (Unix seconds). Pure: the timestamp is a parameter.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_VERSION = 'v0';

/** `v0=<hex>` for one request body (exactly the bytes sent). */
export function signSlackRequest(signingSecret: string, timestampSec: number, rawBody: string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`${SIGNATURE_VERSION}:${timestampSec}:${rawBody}`);
  return `${SIGNATURE_VERSION}=${hmac.digest('hex')}`;
}

/** The two headers Slack adds to every request it sends to an app. */
export function slackSignatureHeaders(
  signingSecret: string,
  timestampSec: number,
  rawBody: string,
): { 'X-Slack-Request-Timestamp': string; 'X-Slack-Signature': string } {
  return {
    'X-Slack-Request-Timestamp': String(timestampSec),
    'X-Slack-Signature': signSlackRequest(signingSecret, timestampSec, rawBody),
  };
}

/**
 * Verifies a signature the way Slack asks apps to (5-minute window, constant-time compare). The
 * stand-in does not need it for its own traffic; tests use it to check what was sent.
 */
export function isValidSlackSignature(opts: {
  signingSecret: string;
  timestampSec: number;
  signature: string;
  rawBody: string;
  nowMs?: number;
}): boolean {
  const nowSec = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (!Number.isFinite(opts.timestampSec) || Math.abs(nowSec - opts.timestampSec) > 5 * 60) return false;
  const expected = Buffer.from(signSlackRequest(opts.signingSecret, opts.timestampSec, opts.rawBody));
  const given = Buffer.from(opts.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
