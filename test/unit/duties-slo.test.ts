import { describe, expect, it } from 'vitest';
import {
  formatPercent,
  formatSeconds,
  promDurationMs,
  RUNBOOK_SLO_WINDOWS,
  type SloReadings,
  sloFigures,
  sloHeadline,
  sloQueries,
  summarise,
} from '../../src/duties/slo.js';

const healthy: SloReadings = {
  availability: { window: 0.9996, recent: 1 },
  availabilityCoverageMinutes: 30 * 24 * 60,
  p95Seconds: {
    simple: { window: 2.4, recent: 2.1 },
    medium: { window: 11, recent: 12 },
    complex: { window: 45, recent: 50 },
  },
  errorRate: { window: 0.002, recent: 0.001 },
  cacheHitRate: { window: 0.87, recent: 0.9 },
};

const byId = (readings: SloReadings) => Object.fromEntries(sloFigures(readings).map((f) => [f.id, f]));

describe('sloFigures against the runbook targets', () => {
  it('lists the runbook table in its order, with targets and windows', () => {
    const figures = sloFigures(healthy);
    expect(figures.map((f) => [f.label, f.targetText, f.windowText])).toEqual([
      ['Availability', '≥ 99.5 %', '30 d'],
      ['Simple query p95', '< 10 s', '24 h'],
      ['Medium query p95', '< 30 s', '24 h'],
      ['Complex query p95', '< 90 s', '24 h'],
      ['Error rate', '< 1 %', '24 h'],
      ['Cache hit rate', '> 60 %', '24 h'],
    ]);
    expect(figures.every((f) => f.met === true && f.recentMet === true)).toBe(true);
    expect(sloHeadline(figures)).toBe('All 6 SLOs with data are met');
  });

  it('judges each target at its edge the way the runbook writes it', () => {
    const edge = byId({
      ...healthy,
      availability: { window: 0.995, recent: 0.9949 },
      p95Seconds: {
        simple: { window: 10, recent: 9.99 },
        medium: { window: 29.9, recent: 30 },
        complex: { window: 90.1, recent: 89 },
      },
      errorRate: { window: 0.01, recent: 0.0099 },
      cacheHitRate: { window: 0.6, recent: 0.61 },
    });
    // ≥ 99.5 % is met at 99.5 %; "< 10 s" is not met at 10 s; "> 60 %" is not met at 60 %.
    expect(edge.availability).toMatchObject({ met: true, recentMet: false });
    expect(edge['p95-simple']).toMatchObject({ met: false, recentMet: true });
    expect(edge['p95-medium']).toMatchObject({ met: true, recentMet: false });
    expect(edge['p95-complex']).toMatchObject({ met: false, recentMet: true });
    expect(edge['error-rate']).toMatchObject({ met: false, recentMet: true });
    expect(edge['cache-hit-rate']).toMatchObject({ met: false, recentMet: true });
  });

  it('names every breach in the headline, with value and target', () => {
    const figures = sloFigures({
      ...healthy,
      errorRate: { window: 0.034, recent: 0.05 },
      cacheHitRate: { window: 0.42, recent: 0.3 },
    });
    expect(summarise(figures).breached.map((f) => f.id)).toEqual(['error-rate', 'cache-hit-rate']);
    expect(sloHeadline(figures)).toBe(
      'SLO breached: Error rate 3.4 % (target < 1 %), Cache hit rate 42 % (target > 60 %)',
    );
  });

  it('calls out a figure met over its window but off target since the last digest', () => {
    const figures = sloFigures({
      ...healthy,
      p95Seconds: { ...healthy.p95Seconds, simple: { window: 4, recent: 14 } },
    });
    expect(summarise(figures).recentlyBreached.map((f) => f.id)).toEqual(['p95-simple']);
    expect(sloHeadline(figures)).toBe(
      'SLOs met over their windows; last 4 h off target: Simple query p95 14 s',
    );
  });

  it('says "no data" rather than judging what was not measured (NaN from an empty histogram)', () => {
    const f = byId({
      ...healthy,
      p95Seconds: { ...healthy.p95Seconds, complex: { window: Number.NaN, recent: null } },
      cacheHitRate: { window: null, recent: null },
    });
    expect(f['p95-complex']).toMatchObject({
      value: null,
      valueText: 'no queries',
      met: null,
      recentMet: null,
    });
    expect(f['cache-hit-rate']).toMatchObject({ valueText: 'no lookups', met: null });
    expect(sloHeadline(sloFigures({ ...healthy, cacheHitRate: { window: null, recent: null } }))).toBe(
      'All 5 SLOs with data are met (1 without data)',
    );
    const nothing: SloReadings = {
      availability: { window: null, recent: null },
      availabilityCoverageMinutes: null,
      p95Seconds: {
        simple: { window: null, recent: null },
        medium: { window: null, recent: null },
        complex: { window: null, recent: null },
      },
      errorRate: { window: null, recent: null },
      cacheHitRate: { window: null, recent: null },
    };
    expect(sloHeadline(sloFigures(nothing))).toBe('No SLO data: Prometheus has no QNWIS samples');
  });

  it('says how much of the 30-day availability window Prometheus could see', () => {
    const f = byId({ ...healthy, availabilityCoverageMinutes: 2 * 24 * 60 + 30 });
    expect(f.availability?.note).toBe('over the 2 d of the 30 d Prometheus has data for');
    expect(byId(healthy).availability?.note).toBeNull();
  });
});

describe('formatting', () => {
  it('percentages keep the digits that matter', () => {
    expect(formatPercent(0.995)).toBe('99.5 %');
    expect(formatPercent(0.99949, 3)).toBe('99.949 %');
    expect(formatPercent(1)).toBe('100 %');
    expect(formatPercent(0.0042)).toBe('0.42 %');
  });
  it('seconds', () => {
    expect(formatSeconds(0.25)).toBe('250 ms');
    expect(formatSeconds(2.4)).toBe('2.4 s');
    expect(formatSeconds(45)).toBe('45 s');
    expect(formatSeconds(12.34)).toBe('12.3 s');
  });
  it('PromQL durations', () => {
    expect(promDurationMs('24h')).toBe(86_400_000);
    expect(promDurationMs('30d')).toBe(30 * 86_400_000);
    expect(() => promDurationMs('1h30m')).toThrow(RangeError);
  });
});

describe('sloQueries', () => {
  it('reads the runbook metrics for the configured job', () => {
    const q = sloQueries('qnwis');
    expect(q.availability(RUNBOOK_SLO_WINDOWS.availability)).toBe(
      'avg_over_time(max(up{job="qnwis"})[30d:1m])',
    );
    expect(q.p95ByType('24h')).toBe(
      'histogram_quantile(0.95, sum by (type, le) (rate(qnwis_query_duration_seconds_bucket{job="qnwis"}[24h])))',
    );
    expect(q.errorRate('4h')).toBe(
      'sum(increase(qnwis_errors_total{job="qnwis"}[4h])) / sum(increase(qnwis_queries_total{job="qnwis"}[4h]))',
    );
    expect(q.cacheHitRate('24h')).toContain('result="hit"');
    expect(q.p95ShareOfTarget('complex', '5m')).toMatch(/type="complex".*\/ 90$/);
  });
});
