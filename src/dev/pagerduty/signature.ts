/**
 * PagerDuty v3 webhook signatures, implemented from PagerDuty's documented algorithm
 * (developer-docs `docs/webhooks/04-Signatures.md`):
 *
 * - Signing: for each signing secret, HMAC-SHA256 of the raw request body keyed by the secret,
 *   Base16 (lower-case hex) encoded and prefixed with the version, `v1=`. The header
 *   `X-PagerDuty-Signature` carries all of them joined by `,` (two while a secret rotates).
 * - Verifying: split the header on `,`, keep only `v1=` entries, compute the expected value for
 *   each secret we accept, and accept when at least one pair matches. Compare in constant time.
 *
 * Nothing in the signature covers a timestamp, so a verified delivery can be replayed: receivers
 * de-duplicate on `X-Webhook-Id` (same id on every retry of one webhook).
 *
 * The bot's own handler implements the same documented algorithm independently; this copy belongs
 * to the stand-in (it signs what it sends) and to its tests.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';
export const SIGNATURE_VERSION = 'v1';

/** Lower-case hex HMAC-SHA256 of `rawBody` with `secret`. `rawBody` is hashed exactly as given (UTF-8 for strings). */
export function computePagerDutySignature(rawBody: string | Buffer, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/**
 * The `X-PagerDuty-Signature` header value for `rawBody`: one `v1=<hex>` per secret, comma-separated,
 * in the order given (the current secret first during a rotation).
 */
export function signPagerDutyPayload(rawBody: string | Buffer, secrets: readonly string[]): string {
  if (secrets.length === 0) throw new Error('at least one webhook signing secret is required');
  return secrets.map((s) => `${SIGNATURE_VERSION}=${computePagerDutySignature(rawBody, s)}`).join(',');
}

/**
 * True when at least one `v1=` signature in `header` matches `rawBody` under at least one of
 * `secrets`. `rawBody` must be the unaltered bytes received (never re-serialised JSON). A missing or
 * empty header, an empty secret list, or entries of other versions never match. Each comparison is
 * constant-time over equal-length buffers; entries of the wrong length are skipped.
 */
export function verifyPagerDutySignature(
  rawBody: string | Buffer,
  header: string | readonly string[] | undefined,
  secrets: readonly string[],
): boolean {
  if (header === undefined || secrets.length === 0) return false;
  const joined = typeof header === 'string' ? header : header.join(',');
  const provided = joined
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(`${SIGNATURE_VERSION}=`))
    .map((s) => Buffer.from(s.slice(SIGNATURE_VERSION.length + 1), 'utf8'));
  if (provided.length === 0) return false;
  let matched = false;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const expected = Buffer.from(computePagerDutySignature(rawBody, secret), 'utf8');
    for (const candidate of provided) {
      // No early exit: every pair is compared so timing does not reveal which one matched.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
    }
  }
  return matched;
}
