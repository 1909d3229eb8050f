import { describe, expect, it } from 'vitest';
import {
  baselineOf,
  type LogSource,
  readableHosts,
  reviewErrorLogs,
} from '../../src/duties/error-log-review.js';

const NOW = new Date('2026-11-28T07:00:00.000Z');
const HOUR = 3_600_000;

/** A JSON line as the QNWIS app writes error.log. */
function appLine(hoursAgo: number, msg: string): string {
  const ts = new Date(NOW.getTime() - hoursAgo * HOUR).toISOString();
  return JSON.stringify({ ts, level: 'ERROR', logger: 'qnwis.query', msg });
}

const pool = (n: number, waiting: number, q: number) =>
  `query failed: connection pool exhausted (pool size ${n}, ${waiting} waiting) query_id=q_2026_${String(q).padStart(6, '0')} user_id=analyst_${q % 7}`;
const redis = (ms: number) =>
  `cache lookup failed: Redis timeout after ${ms}ms key=qnwis:cache:query:0x${ms.toString(16)}ab12cd34`;

function source(host: string, lines: string[], over: Partial<LogSource> = {}): LogSource {
  return { host, service: 'qnwis', file: '/var/log/qnwis/error.log', lines, capped: false, ...over };
}

describe('reviewErrorLogs', () => {
  it('normalises lines into patterns (numbers, ids, hex stripped) and counts them per host', () => {
    const review = reviewErrorLogs(
      [
        source('app-01', [
          appLine(5, pool(20, 17, 1)),
          appLine(4, pool(20, 3, 2)),
          appLine(3, redis(5000)),
          appLine(1, pool(20, 9, 3)),
        ]),
        source('app-02', []),
      ],
      null,
      { now: NOW },
    );
    const app01 = review.hosts.find((h) => h.host === 'app-01');
    expect(app01?.lines).toBe(4);
    expect(app01?.top.map((p) => [p.pattern, p.count])).toEqual([
      ['query failed: connection pool exhausted (pool size <n>, <n> waiting)', 3],
      ['cache lookup failed: Redis timeout after <n>ms key=qnwis:cache:query:<hex>', 1],
    ]);
    // The example is the most recent real line.
    expect(app01?.top[0]?.example).toContain('9 waiting');
    expect(review.hosts.find((h) => h.host === 'app-02')?.lines).toBe(0);
    expect(review.totalLines).toBe(4);
  });

  it('counts only the last day; an undated line counts (it cannot be placed)', () => {
    const review = reviewErrorLogs(
      [
        source('app-01', [
          appLine(30, pool(20, 1, 1)),
          appLine(23.9, pool(20, 2, 2)),
          'Traceback: something broke',
        ]),
      ],
      null,
      { now: NOW },
    );
    expect(review.hosts[0]?.lines).toBe(2);
    expect(review.hosts[0]?.top.map((p) => p.pattern)).toContain('Traceback: something broke');
  });

  it('shows the top N per host and keeps every pattern as the next baseline', () => {
    const lines = Array.from({ length: 12 }, (_, i) =>
      Array.from({ length: 12 - i }, () => appLine(1, `failure kind${String.fromCharCode(97 + i)} happened`)),
    ).flat();
    const review = reviewErrorLogs([source('app-01', lines)], null, { now: NOW, top: 3 });
    const h = review.hosts[0];
    expect(h?.top.map((p) => p.count)).toEqual([12, 11, 10]);
    expect(h?.distinct).toBe(12);
    expect(h?.all).toHaveLength(12);
    expect(baselineOf(review)).toHaveLength(12);
  });

  it('flags the patterns the previous review did not have on that host as new, shown even beyond the top', () => {
    const lines = [
      ...Array.from({ length: 5 }, (_, i) => appLine(2, pool(20, i, i))),
      ...Array.from({ length: 4 }, (_, i) => appLine(2, redis(1000 + i))),
      appLine(1, 'certificate verify failed for upstream 10.0.0.7:443'),
    ];
    const previous = new Map([
      ['app-01', new Set(['query failed: connection pool exhausted (pool size <n>, <n> waiting)'])],
    ]);
    const review = reviewErrorLogs([source('app-01', lines)], previous, { now: NOW, top: 1 });
    const h = review.hosts[0];
    expect(h?.top.map((p) => [p.count, p.isNew])).toEqual([[5, false]]);
    expect(h?.otherNew.map((p) => p.pattern)).toEqual([
      'cache lookup failed: Redis timeout after <n>ms key=qnwis:cache:query:<hex>',
      'certificate verify failed for upstream <ip>:<n>',
    ]);
    expect(h?.newCount).toBe(2);
    expect(review.newPatterns).toBe(2);
    expect(review.baseline).toBe(true);
  });

  it('flags nothing on the first review, nor on a host the previous review could not read', () => {
    const lines = [appLine(1, pool(20, 1, 1))];
    const first = reviewErrorLogs([source('app-01', lines)], null, { now: NOW });
    expect(first.newPatterns).toBe(0);
    expect(first.baseline).toBe(false);
    // app-02 was unreadable last time: it has no baseline (not "everything is new").
    const second = reviewErrorLogs(
      [source('app-01', lines), source('app-02', lines)],
      new Map([['app-01', new Set<string>()]]),
      { now: NOW },
    );
    expect(second.hosts.map((h) => [h.host, h.compared, h.newCount])).toEqual([
      ['app-01', true, 1],
      ['app-02', false, 0],
    ]);
  });

  it('reports an unreadable log as a problem and keeps the host out of the next baseline', () => {
    const review = reviewErrorLogs(
      [
        source('app-01', [appLine(1, pool(20, 1, 1))]),
        source('app-03', [], { error: 'not reachable over SSH (connect ECONNREFUSED)' }),
        source('lb', [], { file: '/var/log/nginx/error.log', service: 'nginx', missing: true }),
      ],
      null,
      { now: NOW },
    );
    expect(review.hosts.find((h) => h.host === 'app-03')?.problems).toEqual([
      '/var/log/qnwis/error.log: not reachable over SSH (connect ECONNREFUSED)',
    ]);
    expect(readableHosts(review)).toEqual(['app-01', 'lb']);
    expect(baselineOf(review).map((b) => b.host)).toEqual(['app-01']);
  });

  it('says how far back a capped read reaches when it does not cover the day', () => {
    const capped = reviewErrorLogs(
      [source('app-01', [appLine(3, pool(20, 1, 1)), appLine(1, pool(20, 2, 2))], { capped: true })],
      null,
      {
        now: NOW,
      },
    );
    expect(capped.hosts[0]?.seenSince).toBe(new Date(NOW.getTime() - 3 * HOUR).toISOString());
    const whole = reviewErrorLogs([source('app-01', [appLine(3, pool(20, 1, 1))])], null, { now: NOW });
    expect(whole.hosts[0]?.seenSince).toBeNull();
  });

  it('reads nginx error lines (text, not JSON) into patterns too', () => {
    const line = (n: number) =>
      `2026/11/28 06:${String(10 + n).padStart(2, '0')}:00 [error] 4242#4242: *${n} connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: _, request: "GET /api/v1/query HTTP/1.1", upstream: "http://127.0.1.2:8000/api/v1/query", host: "127.0.4.1:8080"`;
    const review = reviewErrorLogs(
      [source('lb', [line(1), line(2), line(3)], { file: '/var/log/nginx/error.log', service: 'nginx' })],
      null,
      { now: NOW },
    );
    expect(review.hosts[0]?.distinct).toBe(1);
    expect(review.hosts[0]?.top[0]?.count).toBe(3);
    expect(review.hosts[0]?.top[0]?.pattern).not.toMatch(/4242|127\.0\.1\.2/);
  });
});
