/**
 * Rate limiters of the stand-in, with the clock injected (pure apart from their own counters).
 *
 * - Events API v2: "approximately 120 calls/minute per integration key … calculated over a 60 second
 *   window looking back from the current time" (events-API-v2/05-Rate-Limits.md) → a sliding window
 *   per routing key. A refused event is not ingested and does not count.
 * - REST API: 960 requests per minute per API key (REST-API/04-Rate-Limits.md), reported in
 *   `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset` (seconds until the limit resets)
 *   → a fixed one-minute window per token, so `ratelimit-reset` is exact.
 */

export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Whole seconds until a request would be allowed again (sliding) or the window resets (fixed). */
  readonly resetSeconds: number;
}

export interface RateLimiter {
  take(key: string): RateDecision;
  reset(): void;
}

/** At most `limit` accepted calls per key in any `windowMs` looking back from now. */
export class SlidingWindowLimiter implements RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(limit: number, windowMs: number, now: () => number) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
  }

  take(key: string): RateDecision {
    const t = this.now();
    const recent = (this.hits.get(key) ?? []).filter((at) => at > t - this.windowMs);
    if (recent.length >= this.limit) {
      this.hits.set(key, recent);
      const oldest = recent[0] ?? t;
      const resetSeconds = Math.max(1, Math.ceil((oldest + this.windowMs - t) / 1000));
      return { allowed: false, limit: this.limit, remaining: 0, resetSeconds };
    }
    recent.push(t);
    this.hits.set(key, recent);
    const oldest = recent[0] ?? t;
    return {
      allowed: true,
      limit: this.limit,
      remaining: this.limit - recent.length,
      resetSeconds: Math.max(0, Math.ceil((oldest + this.windowMs - t) / 1000)),
    };
  }

  reset(): void {
    this.hits.clear();
  }
}

/** At most `limit` requests per key per fixed window starting at the key's first request. */
export class FixedWindowLimiter implements RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(limit: number, windowMs: number, now: () => number) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.now = now;
  }

  take(key: string): RateDecision {
    const t = this.now();
    let w = this.windows.get(key);
    if (w === undefined || t >= w.start + this.windowMs) {
      w = { start: t, count: 0 };
      this.windows.set(key, w);
    }
    const resetSeconds = Math.max(1, Math.ceil((w.start + this.windowMs - t) / 1000));
    if (w.count >= this.limit) {
      return { allowed: false, limit: this.limit, remaining: 0, resetSeconds };
    }
    w.count += 1;
    return { allowed: true, limit: this.limit, remaining: this.limit - w.count, resetSeconds };
  }

  reset(): void {
    this.windows.clear();
  }
}
