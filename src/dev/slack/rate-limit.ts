/**
 * Per-channel rate limit for chat.postMessage: a token bucket (`perSecond` refill, `burst`
 * capacity). Pure apart from the injected clock.
 *
 * Slack answers a refused call with HTTP 429 and `Retry-After: <seconds>`. Here each refused caller
 * is told when a slot will be free *for it*: refusals hand out consecutive future slots, so callers
 * that wait exactly `Retry-After` (as `@slack/web-api` does) come back one per slot, in the order
 * they were refused, and get through. Slack documents only "wait Retry-After seconds"; a bot that
 * honours that works against both.
 */

export interface RateLimitConfig {
  /** false: every call passes (the bucket is not even counted). */
  enabled: boolean;
  /** Sustained rate per channel, messages per second (Slack: about 1). */
  perSecond: number;
  /** Bucket capacity: how many messages may go at once after a quiet period. */
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitConfig = { enabled: true, perSecond: 1, burst: 3 };

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSec: number };

interface Bucket {
  tokens: number;
  updatedAtMs: number;
  /** The next future slot handed to a refused caller. */
  nextSlotMs: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Calls refused with 429, per key: tests check that a client's pacing keeps this near zero. */
  private readonly refusedByKey = new Map<string, number>();
  private config: RateLimitConfig;
  private readonly now: () => number;

  constructor(config: RateLimitConfig, now: () => number = Date.now) {
    this.config = config;
    this.now = now;
    if (!(config.perSecond > 0)) throw new Error('rate limit perSecond must be > 0');
    if (!(config.burst >= 1)) throw new Error('rate limit burst must be >= 1');
  }

  get settings(): RateLimitConfig {
    return { ...this.config };
  }

  configure(config: Partial<RateLimitConfig>): void {
    this.config = { ...this.config, ...config };
    this.buckets.clear();
  }

  reset(): void {
    this.buckets.clear();
    this.refusedByKey.clear();
  }

  get refused(): Record<string, number> {
    return Object.fromEntries(this.refusedByKey);
  }

  take(key: string): RateDecision {
    if (!this.config.enabled) return { allowed: true };
    const now = this.now();
    const intervalMs = 1000 / this.config.perSecond;
    const bucket = this.buckets.get(key) ?? { tokens: this.config.burst, updatedAtMs: now, nextSlotMs: 0 };
    bucket.tokens = Math.min(
      this.config.burst,
      bucket.tokens + ((now - bucket.updatedAtMs) / 1000) * this.config.perSecond,
    );
    bucket.updatedAtMs = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    this.refusedByKey.set(key, (this.refusedByKey.get(key) ?? 0) + 1);
    const firstTokenAt = now + (1 - bucket.tokens) * intervalMs;
    const slot = Math.max(firstTokenAt, bucket.nextSlotMs);
    bucket.nextSlotMs = slot + intervalMs;
    return { allowed: false, retryAfterSec: Math.max(1, Math.ceil((slot - now) / 1000)) };
  }
}
