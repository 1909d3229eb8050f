import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PrometheusQueryError, PrometheusUnavailableError } from '../../src/errors.js';
import {
  effectiveStepSec,
  exprFromGeneratorUrl,
  PrometheusClient,
  parsePromNumber,
  splitAlertExpr,
} from '../../src/ops/prometheus.js';

/** Go's url.QueryEscape, which Prometheus uses to build generatorURL. */
function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%20', '+');
}

describe('exprFromGeneratorUrl', () => {
  it('reads g0.expr from a real Alertmanager payload', () => {
    const payload = JSON.parse(readFileSync('test/fixtures/alertmanager/firing.json', 'utf8')) as {
      alerts: { generatorURL: string }[];
    };
    const url = payload.alerts[0]?.generatorURL ?? '';
    expect(exprFromGeneratorUrl(url)).toBe('qnwis_error_ratio{job="qnwis"} > 0.1');
  });

  it('decodes what Prometheus encodes (spaces as +, quotes, brackets)', () => {
    const expr = 'sum by (host, instance, job) (rate(qnwis_errors_total{job="qnwis"}[20s])) > 0.05';
    const url = `http://127.0.0.1:9090/graph?g0.expr=${goQueryEscape(expr)}&g0.tab=1`;
    expect(url).toContain('+%3E+0.05');
    expect(exprFromGeneratorUrl(url)).toBe(expr);
    expect(exprFromGeneratorUrl(`http://p/graph?g0.expr=${encodeURIComponent('a + b')}`)).toBe('a + b');
  });

  it('is null when there is no expression or no URL', () => {
    expect(exprFromGeneratorUrl('http://127.0.0.1:9090/graph?g0.tab=1')).toBeNull();
    expect(exprFromGeneratorUrl('http://127.0.0.1:9090/graph?g0.expr=&g0.tab=1')).toBeNull();
    expect(exprFromGeneratorUrl('')).toBeNull();
    expect(exprFromGeneratorUrl('not a url')).toBeNull();
  });
});

describe('splitAlertExpr', () => {
  it.each([
    ['a > 0.05', 'a', 0.05, '>'],
    ['a < 0.5', 'a', 0.5, '<'],
    ['a >= 1', 'a', 1, '>='],
    ['a <= -2', 'a', -2, '<='],
    ['up{job="qnwis"} == 0', 'up{job="qnwis"}', 0, '=='],
    ['a != 3', 'a', 3, '!='],
    ['a>0.05', 'a', 0.05, '>'],
    ['  a\n  >\n  1e3  ', 'a', 1000, '>'],
    ['(a > 0.05)', 'a', 0.05, '>'],
    ['((sum(rate(x[5m]))) > (0.05))', 'sum(rate(x[5m]))', 0.05, '>'],
    ['a > bool 1', 'a', 1, '>'],
    ['0.5 < a', 'a', 0.5, '>'],
    ['1 >= a', 'a', 1, '<='],
    ['a > 0x10', 'a', 16, '>'],
  ])('%j → chart %j, threshold %j (%s)', (expr, chart, threshold, op) => {
    expect(splitAlertExpr(expr)).toEqual({ expr: chart, threshold, op });
  });

  it('handles the lab rules as written', () => {
    expect(
      splitAlertExpr('sum by (host, instance, job) (rate(qnwis_errors_total{job="qnwis"}[20s])) > 0.05'),
    ).toEqual({
      expr: 'sum by (host, instance, job) (rate(qnwis_errors_total{job="qnwis"}[20s]))',
      threshold: 0.05,
      op: '>',
    });
    expect(
      splitAlertExpr(
        'histogram_quantile(0.95, sum by (le) (rate(qnwis_query_duration_seconds_bucket{job="qnwis"}[20s]))) > 2',
      ),
    ).toMatchObject({ threshold: 2, op: '>' });
    expect(splitAlertExpr('vector(1)')).toEqual({ expr: 'vector(1)', threshold: null, op: null });
  });

  it('ignores comparisons inside matchers, strings, brackets and comments', () => {
    expect(splitAlertExpr('x{a!="b", c=~"d|e", f!~"<g>"} > 1')).toEqual({
      expr: 'x{a!="b", c=~"d|e", f!~"<g>"}',
      threshold: 1,
      op: '>',
    });
    expect(splitAlertExpr('label_replace(x, "dst", "a>b", "src", "(.*)") < 2')).toMatchObject({
      expr: 'label_replace(x, "dst", "a>b", "src", "(.*)")',
      threshold: 2,
    });
    expect(splitAlertExpr('max_over_time((a > 1)[5m:])')).toEqual({
      expr: 'max_over_time((a > 1)[5m:])',
      threshold: null,
      op: null,
    });
    expect(splitAlertExpr('x # a > 1 in a comment\n< 3')).toMatchObject({ threshold: 3, op: '<' });
  });

  it('charts the left side of a vector comparison, with no threshold', () => {
    expect(splitAlertExpr('a > on(host) group_left b')).toEqual({ expr: 'a', threshold: null, op: '>' });
  });

  it('charts the whole expression when unsure', () => {
    const whole = (e: string) => ({ expr: e, threshold: null, op: null });
    expect(splitAlertExpr('a > 1 and b < 2')).toEqual(whole('a > 1 and b < 2'));
    expect(splitAlertExpr('a > 1 or vector(0)')).toEqual(whole('a > 1 or vector(0)'));
    expect(splitAlertExpr('a > 1 unless b')).toEqual(whole('a > 1 unless b'));
    expect(splitAlertExpr('a > b > 1')).toEqual(whole('a > b > 1'));
    expect(splitAlertExpr('1 > 2')).toEqual(whole('1 > 2'));
    expect(splitAlertExpr('> 1')).toEqual(whole('> 1'));
    // Names that merely contain and/or/unless are not operators.
    expect(splitAlertExpr('orders_total + handbrake_unless > 1')).toMatchObject({
      expr: 'orders_total + handbrake_unless',
      threshold: 1,
    });
  });

  it('keeps the split but drops a threshold that cannot be drawn', () => {
    expect(splitAlertExpr('a > Inf')).toEqual({ expr: 'a', threshold: null, op: '>' });
    expect(splitAlertExpr('a != NaN')).toEqual({ expr: 'a', threshold: null, op: '!=' });
  });
});

describe('parsePromNumber', () => {
  it('reads PromQL number literals', () => {
    expect(parsePromNumber('0.05')).toBe(0.05);
    expect(parsePromNumber('-1.5e-3')).toBe(-0.0015);
    expect(parsePromNumber('.5')).toBe(0.5);
    expect(parsePromNumber('1_000')).toBe(1000);
    expect(parsePromNumber('0x1F')).toBe(31);
    expect(parsePromNumber('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parsePromNumber('-inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parsePromNumber('NaN')).toBeNaN();
    expect(parsePromNumber('up')).toBeNull();
    expect(parsePromNumber('1m')).toBeNull();
    expect(parsePromNumber('scalar(x)')).toBeNull();
  });
});

describe('effectiveStepSec', () => {
  it('keeps a step within the 11,000-point limit and raises one beyond it', () => {
    const hour = 3_600_000;
    expect(effectiveStepSec(0, hour, 1)).toBe(1);
    expect(effectiveStepSec(0, 7 * 24 * hour, 15)).toBe(55);
    expect((7 * 24 * 3600) / effectiveStepSec(0, 7 * 24 * hour, 1)).toBeLessThanOrEqual(11_000);
    expect(effectiveStepSec(0, 11_000_000, 1)).toBe(1);
    expect(effectiveStepSec(0, 11_000_001, 1)).toBe(2);
  });
});

/** A fetch that answers from a table: the client is exercised without a network. */
function answering(status: number, body: unknown, seen: { url?: string; body?: string } = {}): typeof fetch {
  return async (input, init) => {
    seen.url = String(input);
    seen.body = String(init?.body);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { 'content-type': 'application/json' } });
  };
}

describe('PrometheusClient.queryRange', () => {
  const range = {
    start: Date.parse('2026-11-27T22:00:00Z'),
    end: Date.parse('2026-11-27T22:01:00Z'),
    stepSec: 15,
  };

  it('posts the query and converts samples to [ms, value], dropping NaN and ±Inf', async () => {
    const seen: { url?: string; body?: string } = {};
    const client = new PrometheusClient('http://prom.test:9090/prefix', {
      fetch: answering(
        200,
        {
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [
              {
                metric: { __name__: 'up', host: 'app-01' },
                values: [
                  [1795816800, '1'],
                  [1795816815.5, 'NaN'],
                  [1795816830, '+Inf'],
                  [1795816845, '-Inf'],
                  [1795816860, '0.25'],
                ],
              },
            ],
          },
        },
        seen,
      ),
    });
    const res = await client.queryRange('up', range);
    expect(seen.url).toBe('http://prom.test:9090/prefix/api/v1/query_range');
    const form = new URLSearchParams(seen.body);
    expect(Object.fromEntries(form)).toEqual({
      query: 'up',
      start: '1795816800.000',
      end: '1795816860.000',
      step: '15',
    });
    expect(res.stepSec).toBe(15);
    expect(res.series).toEqual([
      {
        labels: { __name__: 'up', host: 'app-01' },
        points: [
          [1795816800000, 1],
          [1795816860000, 0.25],
        ],
      },
    ]);
  });

  it('raises the step itself when the window would exceed 11,000 points', async () => {
    const seen: { body?: string } = {};
    const client = new PrometheusClient('http://prom.test', {
      fetch: answering(200, { status: 'success', data: { resultType: 'matrix', result: [] } }, seen),
    });
    const res = await client.queryRange('up', { start: 0, end: 30 * 24 * 3_600_000, stepSec: 1 });
    expect(res.stepSec).toBe(236);
    expect(new URLSearchParams(seen.body).get('step')).toBe('236');
  });

  it('maps bad_data and execution errors to a permanent PrometheusQueryError', async () => {
    const client = new PrometheusClient('http://prom.test', {
      fetch: answering(400, { status: 'error', errorType: 'bad_data', error: '1:4: parse error' }),
    });
    const err = await client.queryRange('up{', range).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusQueryError);
    expect(err).toMatchObject({
      code: 'prometheus_query_failed',
      transient: false,
      errorType: 'bad_data',
      error: '1:4: parse error',
      status: 400,
      url: 'http://prom.test/api/v1/query_range',
    });
  });

  it('maps Prometheus timeouts, 5xx and unreadable 503s to a transient PrometheusUnavailableError', async () => {
    for (const [status, body] of [
      [503, { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }],
      [422, { status: 'error', errorType: 'canceled', error: 'context canceled' }],
      [503, '<html>Service Unavailable</html>'],
      [429, ''],
    ] as const) {
      const client = new PrometheusClient('http://prom.test', { fetch: answering(status, body) });
      const err = await client.queryRange('up', range).catch((e: unknown) => e);
      expect(err, `${status} ${JSON.stringify(body)}`).toBeInstanceOf(PrometheusUnavailableError);
      expect(err).toMatchObject({ code: 'prometheus_unavailable', transient: true, status });
    }
  });

  it('calls a non-API answer or a non-matrix result a bad response', async () => {
    for (const body of [
      'not json',
      { status: 'success', data: { resultType: 'vector', result: [] } },
      { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [['x', 1]] }] } },
    ]) {
      const client = new PrometheusClient('http://prom.test', { fetch: answering(200, body) });
      await expect(client.queryRange('up', range)).rejects.toMatchObject({
        code: 'prometheus_query_failed',
        errorType: 'bad_response',
      });
    }
  });

  it('maps a network failure and its own deadline to PrometheusUnavailableError', async () => {
    const refused: typeof fetch = async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      });
    };
    await expect(
      new PrometheusClient('http://prom.test', { fetch: refused }).queryRange('up', range),
    ).rejects.toThrow(/unavailable: fetch failed \(ECONNREFUSED\)/);
    const hangs: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const err = await new PrometheusClient('http://prom.test', { fetch: hangs, timeoutMs: 30 })
      .queryRange('up', range)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusUnavailableError);
    expect((err as Error).message).toContain('no answer within 30 ms');
  });

  it('refuses a bad window or step before sending anything', async () => {
    let called = false;
    const client = new PrometheusClient('http://prom.test', {
      fetch: async () => {
        called = true;
        return new Response('{}');
      },
    });
    await expect(client.queryRange('up', { ...range, stepSec: 0 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(client.queryRange('up', { ...range, end: range.start - 1 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(client.queryRange(' ', range)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(called).toBe(false);
  });
});
