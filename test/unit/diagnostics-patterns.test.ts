/**
 * The error-log pattern normaliser and grouper (runbook Scenario 1, "Identify error pattern"), on
 * lines shaped exactly like the QNWIS app's error.log (JSON lines) and on plain text logs.
 */
import { describe, expect, it } from 'vitest';
import {
  groupLogLines,
  normaliseMessage,
  normaliseUrl,
  parseLogLine,
} from '../../src/ops/diagnostics/log-patterns.js';

/** A line as the app writes it (lab/daemons/qnwis-app/logs.ts: ts, level, logger, msg, host, fields). */
function appLine(msg: string, fields: Record<string, unknown> = {}, ts = '2026-11-27T22:46:20.200Z'): string {
  return JSON.stringify({ ts, level: 'ERROR', logger: 'qnwis.query', msg, host: 'app-01', ...fields });
}

const poolExhausted = (waiting: number, q: string, user: string, type: string, ms: number) =>
  appLine(
    `query failed: connection pool exhausted (pool size 20, ${waiting} waiting) query_id=${q} user_id=${user} type=${type} reason=db_pool_exhausted duration_ms=${ms}`,
    { query_id: q, user_id: user, type, reason: 'db_pool_exhausted', duration_ms: ms, source: 'load' },
  );

describe('normaliseMessage', () => {
  it('turns the variable parts of the app’s messages into placeholders and drops per-query context', () => {
    expect(
      normaliseMessage(
        'query failed: connection pool exhausted (pool size 20, 17 waiting) query_id=q_2026_000123 user_id=analyst_17 type=simple reason=db_pool_exhausted duration_ms=3',
      ),
    ).toBe('query failed: connection pool exhausted (pool size <n>, <n> waiting)');
    expect(
      normaliseMessage(
        'query failed: Redis timeout after 5000ms on GET qnwis:cache:query:q_2026_000123 query_id=q_2026_000123 user_id=analyst_2 type=medium reason=redis_timeout duration_ms=5004',
      ),
    ).toBe('query failed: Redis timeout after <n>ms on GET qnwis:cache:query:<query_id>');
    expect(
      normaliseMessage(
        'query failed: upstream API failure: GET https://lmis.mol.gov.qa/api/v2/sectors?quarter=2025-Q3 returned 502 query_id=q_2026_000007 user_id=analyst_4 type=complex reason=upstream_api duration_ms=812',
      ),
    ).toBe(
      'query failed: upstream API failure: GET https://lmis.mol.gov.qa/api/v2/sectors?quarter=<v> returned <n>',
    );
    expect(normaliseMessage('database unavailable error="connect ECONNREFUSED 127.0.2.1:5432"')).toBe(
      'database unavailable error="connect ECONNREFUSED <ip>:<n>"',
    );
  });

  it('replaces uuids, hex ids, ISO timestamps, IPv4/IPv6 and user ids in free text', () => {
    expect(
      normaliseMessage(
        'request 3f2b8c1e-9a4d-4e7b-8c2a-1d2e3f4a5b6c from 10.20.30.40 for analyst_123 at 2026-11-27T22:46:20.200Z trace 9f86d081884c7d65 ptr 0x7ffd5e8c',
      ),
    ).toBe('request <uuid> from <ip> for <user> at <ts> trace <hex> ptr <hex>');
    expect(normaliseMessage('peer fe80:0:0:0:202:b3ff:fe1e:8329 closed; retry batch_42 in 1.5s')).toBe(
      'peer <ip> closed; retry <id> in <n>s',
    );
  });

  it('keeps words that merely contain digits (v2, sha256) and quoted names', () => {
    expect(
      normaliseMessage("KeyError: 'sector_code' in aggregate_by_sector (row 4812) via api/v2 sha256"),
    ).toBe("KeyError: 'sector_code' in aggregate_by_sector (row <n>) via api/v2 sha256");
  });

  it('drops a leading timestamp of plain log lines', () => {
    expect(normaliseMessage('2026-11-27 22:46:20,123 ERROR [qnwis.db] pool timeout after 30s')).toBe(
      'ERROR [qnwis.db] pool timeout after <n>s',
    );
    expect(
      normaliseMessage(
        '2026/11/27 22:46:20 [error] 1234#0: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://127.0.1.2:8000/api/v1/query"',
      ),
    ).toBe(
      '[error] <n>#<n>: *<n> connect() failed (<n>: Connection refused) while connecting to upstream, client: <ip>, upstream: "http://<ip>/api/v1/query"',
    );
    expect(normaliseMessage('Nov 27 22:46:20 app-01 qnwis[3770]: worker 2 died')).toBe(
      'app-<n> qnwis[<n>]: worker <n> died',
    );
  });
});

describe('normaliseUrl', () => {
  it('keeps scheme, host and fixed path words; ids, numbers and query values become placeholders', () => {
    expect(
      normaliseUrl('https://lmis.mol.gov.qa/api/v2/establishments/48213/permits?quarter=2025-Q3&page=2'),
    ).toBe('https://lmis.mol.gov.qa/api/v2/establishments/<n>/permits?quarter=<v>&page=<v>');
    expect(normaliseUrl('http://10.0.0.5:8000/query/q_2026_000123#frag')).toBe(
      'http://<ip>/query/<query_id>',
    );
    expect(normaliseUrl('https://user:secret@example.org/a/3f2b8c1e-9a4d-4e7b-8c2a-1d2e3f4a5b6c.')).toBe(
      'https://example.org/a/<uuid>.',
    );
  });
});

describe('parseLogLine', () => {
  it('reads msg, level, logger and ts from JSON lines', () => {
    const p = parseLogLine(poolExhausted(12, 'q_2026_000001', 'analyst_3', 'simple', 2));
    expect(p).toMatchObject({ json: true, level: 'ERROR', logger: 'qnwis.query' });
    expect(p.message).toMatch(/^query failed: connection pool exhausted/);
    expect(p.at?.toISOString()).toBe('2026-11-27T22:46:20.200Z');
  });

  it('treats non-JSON and broken JSON as text, with a leading timestamp if there is one', () => {
    const plain = parseLogLine('2026-11-27 22:46:20,123 ERROR [qnwis.db] pool timeout');
    expect(plain).toMatchObject({ json: false, level: 'ERROR' });
    expect(plain.at?.toISOString()).toBe('2026-11-27T22:46:20.123Z');
    const cut = parseLogLine('{"ts":"2026-11-27T22:46:20.200Z","level":"ERROR","msg":"query fai');
    expect(cut.json).toBe(false);
    expect(parseLogLine('{"level":"ERROR","n":1}').json).toBe(false); // JSON without msg
  });
});

describe('groupLogLines', () => {
  const lines = [
    ...Array.from({ length: 300 }, (_, i) =>
      poolExhausted(
        3 + (i % 40),
        `q_2026_${String(i).padStart(6, '0')}`,
        `analyst_${i % 25}`,
        ['simple', 'medium', 'complex'][i % 3] ?? 'simple',
        i % 9,
      ),
    ),
    ...Array.from({ length: 80 }, (_, i) =>
      appLine(
        `query failed: Redis timeout after 5000ms on GET qnwis:cache:query:q_2026_${String(i).padStart(6, '0')} query_id=q_2026_${String(i).padStart(6, '0')} user_id=analyst_${i} type=simple reason=redis_timeout duration_ms=${5000 + i}`,
      ),
    ),
    ...Array.from({ length: 32 }, (_, i) =>
      appLine(
        `query failed: ValueError: could not convert string to float: 'N/A' (column avg_salary, row ${i * 37})`,
      ),
    ),
    '',
  ];

  it('groups 412 lines into three patterns, counted, most frequent first, one example each', () => {
    const g = groupLogLines(lines);
    expect(g.lines).toBe(412);
    expect(g.distinct).toBe(3);
    expect(g.patterns.map((p) => [p.pattern, p.count])).toEqual([
      ['query failed: connection pool exhausted (pool size <n>, <n> waiting)', 300],
      ['query failed: Redis timeout after <n>ms on GET qnwis:cache:query:<query_id>', 80],
      ["query failed: ValueError: could not convert string to float: 'N/A' (column avg_salary, row <n>)", 32],
    ]);
    expect(g.patterns[0]?.example).toMatch(
      /^query failed: connection pool exhausted \(pool size 20, \d+ waiting\) query_id=q_2026_/,
    );
    expect(g.patterns[0]).toMatchObject({ level: 'ERROR', logger: 'qnwis.query' });
    expect(g.otherLines).toBe(0);
  });

  it('keeps the top N and counts the rest; ties keep first-seen order', () => {
    const g = groupLogLines(['{"msg":"a 1"}', '{"msg":"b 1"}', '{"msg":"c 1"}', '{"msg":"b 2"}'], { top: 2 });
    expect(g.patterns.map((p) => [p.pattern, p.count])).toEqual([
      ['b <n>', 2],
      ['a <n>', 1],
    ]);
    expect(g.otherLines).toBe(1);
  });

  it('counts recent lines against `since` and reports the newest time', () => {
    const g = groupLogLines(
      [
        appLine('x 1', {}, '2026-11-27T22:00:00.000Z'),
        appLine('x 2', {}, '2026-11-27T22:58:00.000Z'),
        'no timestamp ERROR here',
      ],
      { since: new Date('2026-11-27T22:55:00.000Z') },
    );
    expect(g.recentLines).toBe(2); // the timed recent one, and the untimed one (counted as recent)
    expect(g.newestAt).toBe('2026-11-27T22:58:00.000Z');
    expect(g.patterns[0]).toMatchObject({
      pattern: 'x <n>',
      count: 2,
      firstAt: '2026-11-27T22:00:00.000Z',
      lastAt: '2026-11-27T22:58:00.000Z',
    });
  });

  it('caps pattern and example length', () => {
    const long = `{"msg":"${'word '.repeat(400)}"}`;
    const g = groupLogLines([long]);
    expect(g.patterns[0]?.pattern.length).toBeLessThanOrEqual(300);
    expect(g.patterns[0]?.example.length).toBeLessThanOrEqual(500);
  });
});
