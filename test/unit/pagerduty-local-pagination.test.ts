/**
 * PagerDuty's classic pagination (REST-API/09-Pagination.md) and the stand-in's rate limiters
 * (Events API: sliding 60 s window per key; REST: fixed window with ratelimit-* values), fake clock.
 */
import { describe, expect, it } from 'vitest';
import { paginate, parsePageRequest } from '../../src/dev/pagerduty/pagination.js';
import { FixedWindowLimiter, SlidingWindowLimiter } from '../../src/dev/pagerduty/rate-limit.js';
import { queryAll } from '../../src/dev/pagerduty/rest-api.js';

const items = Array.from({ length: 60 }, (_, i) => i + 1);
const page = (qs: string) => {
  const p = parsePageRequest(new URLSearchParams(qs));
  if (!p.ok) throw new Error(p.error);
  return paginate(items, p.page);
};

describe('classic pagination', () => {
  it('defaults to limit 25, offset 0, total null', () => {
    const p = page('');
    expect(p).toMatchObject({ limit: 25, offset: 0, more: true, total: null });
    expect(p.items).toEqual(items.slice(0, 25));
  });

  it('pages with offset until more is false; total only with total=true', () => {
    expect(page('limit=25&offset=25')).toMatchObject({ more: true, total: null });
    const last = page('limit=25&offset=50&total=true');
    expect(last).toMatchObject({ more: false, total: 60, offset: 50, limit: 25 });
    expect(last.items).toEqual(items.slice(50));
    expect(page('offset=60').items).toEqual([]);
    expect(page('offset=60').more).toBe(false);
  });

  it('caps limit at 100 and refuses offset + limit above 10000', () => {
    expect(page('limit=500').limit).toBe(100);
    expect(parsePageRequest(new URLSearchParams('limit=100&offset=9901')).ok).toBe(false);
    expect(parsePageRequest(new URLSearchParams('limit=100&offset=9900')).ok).toBe(true);
    expect(parsePageRequest(new URLSearchParams('limit=-1')).ok).toBe(false);
    expect(parsePageRequest(new URLSearchParams('offset=abc')).ok).toBe(false);
  });

  it('reads PagerDuty array parameters in both forms', () => {
    const q = new URLSearchParams('statuses[]=triggered&statuses[]=acknowledged&service_ids=PA,PB');
    expect(queryAll(q, 'statuses')).toEqual(['triggered', 'acknowledged']);
    expect(queryAll(q, 'service_ids')).toEqual(['PA', 'PB']);
  });
});

describe('rate limiters', () => {
  it('sliding window: 120 per 60 s per key, refused calls do not count', () => {
    let t = 0;
    const l = new SlidingWindowLimiter(120, 60_000, () => t);
    for (let i = 0; i < 120; i++) {
      expect(l.take('k').allowed).toBe(true);
      t += 100; // 120 calls over 12 s
    }
    const refused = l.take('k');
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.resetSeconds).toBe(48); // the oldest call leaves the window at t = 60 s
    expect(l.take('other').allowed).toBe(true);
    t = 60_000; // the first call has left the window
    expect(l.take('k').allowed).toBe(true);
    expect(l.take('k').allowed).toBe(false);
  });

  it('fixed window: limit, remaining and seconds to reset', () => {
    let t = 1_000;
    const l = new FixedWindowLimiter(3, 60_000, () => t);
    expect(l.take('tok')).toEqual({ allowed: true, limit: 3, remaining: 2, resetSeconds: 60 });
    t += 30_500;
    expect(l.take('tok')).toEqual({ allowed: true, limit: 3, remaining: 1, resetSeconds: 30 });
    expect(l.take('tok').remaining).toBe(0);
    expect(l.take('tok')).toMatchObject({ allowed: false, remaining: 0 });
    t += 30_000;
    expect(l.take('tok')).toMatchObject({ allowed: true, remaining: 2 });
    l.reset();
    expect(l.take('tok').remaining).toBe(2);
  });
});
