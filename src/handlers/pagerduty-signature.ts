/**
 * PagerDuty webhook v3 signatures (developer docs, "Verifying Signatures"):
 * `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>[,v1=<…>]` — several during a
 * secret rotation; any match is valid. Compared in constant time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signPagerDuty(rawBody: Buffer | string, secret: string): string {
  return `v1=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

export function verifyPagerDutySignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: readonly string[],
): boolean {
  if (!header) return false;
  const offered = header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .map((s) => Buffer.from(s));
  let ok = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signPagerDuty(rawBody, secret));
    for (const sig of offered) {
      // No early exit: every candidate is compared.
      if (sig.length === expected.length && timingSafeEqual(sig, expected)) ok = true;
    }
  }
  return ok;
}
