/**
 * Per-channel pacing for Slack posts, shared by every worker through the bot's Redis.
 *
 * Slack allows about one message per second per channel and answers 429 with Retry-After beyond
 * it. Pacing is per channel so that a storm in one channel (or a 429 there) never delays another:
 * a job that must wait is moved back to the delayed set, it never sleeps in the worker.
 */
import type { Redis } from 'ioredis';

// Atomically: if the channel's next slot has come, take it and push the next one by `interval`;
// otherwise return how long to wait.
const TAKE_SLOT = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= nextAt then
  redis.call('SET', KEYS[1], now + interval, 'PX', math.max(interval * 2, 60000))
  return 0
end
return nextAt - now
`;

// A 429 pushes the channel's next slot to now + Retry-After (never earlier than already set).
const BLOCK_UNTIL = `
local untilAt = tonumber(ARGV[1])
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilAt > nextAt then
  redis.call('SET', KEYS[1], untilAt, 'PX', math.max(untilAt - tonumber(ARGV[2]), 1) + 60000)
end
return 1
`;

export class ChannelPacer {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly intervalMs: number;
  constructor(redis: Redis, opts: { prefix: string; intervalMs: number }) {
    this.redis = redis;
    this.prefix = opts.prefix;
    this.intervalMs = opts.intervalMs;
  }

  private key(channel: string): string {
    return `${this.prefix}:pace:${channel}`;
  }

  /** 0 when a post may go now (the slot is taken), else the milliseconds to wait. */
  async take(channel: string, now = Date.now()): Promise<number> {
    if (this.intervalMs === 0) return 0;
    return Number(await this.redis.eval(TAKE_SLOT, 1, this.key(channel), now, this.intervalMs));
  }

  async blockFor(channel: string, ms: number, now = Date.now()): Promise<void> {
    await this.redis.eval(BLOCK_UNTIL, 1, this.key(channel), now + ms, now);
  }

  /** A short-lived lock so two workers never render the same incident at once. */
  async lock(name: string, ttlMs: number): Promise<(() => Promise<void>) | null> {
    const key = `${this.prefix}:lock:${name}`;
    const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    const ok = await this.redis.set(key, token, 'PX', ttlMs, 'NX');
    if (ok !== 'OK') return null;
    return async () => {
      await this.redis.eval(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        1,
        key,
        token,
      );
    };
  }
}
