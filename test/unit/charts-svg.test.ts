import { describe, expect, it } from 'vitest';
import {
  chartAltText,
  chartFilename,
  guessValueFormat,
  rankSeries,
} from '../../src/bot/charts/alert-chart.js';
import { type ChartSeries, escapeXml, lineChartSvg, SERIES_COLORS } from '../../src/bot/charts/line-chart.js';
import { seriesNames } from '../../src/bot/charts/series-names.js';
import {
  formatReading,
  formatTimeUtc,
  formatValue,
  niceStep,
  timeTicks,
  valueScale,
} from '../../src/bot/charts/ticks.js';

const END = Date.parse('2026-11-27T22:00:00Z');
const START = END - 3_600_000;

/** One point a minute over the hour. */
function series(labels: Record<string, string>, f: (i: number) => number): ChartSeries {
  return {
    labels,
    points: Array.from({ length: 61 }, (_, i) => [START + i * 60_000, f(i)] as [number, number]),
  };
}

/** Every match of `re` in `svg`, first capture group. */
const all = (svg: string, re: RegExp) => [...svg.matchAll(re)].map((m) => m[1]);
/** The content of `<g class="cls" …>…</g>`, nested groups included. */
function group(svg: string, cls: string): string {
  const open = svg.indexOf(`<g class="${cls}"`);
  if (open < 0) return '';
  const tag = /<g\b[^>]*>|<\/g>/g;
  tag.lastIndex = open;
  let depth = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    depth += m[0] === '</g>' ? -1 : 1;
    if (depth === 0) return svg.slice(svg.indexOf('>', open) + 1, m.index);
  }
  return '';
}

describe('value ticks', () => {
  it('picks 1, 2, 2.5 and 5 × 10ⁿ steps', () => {
    expect([0.7, 1.5, 2.2, 3, 7, 0.03, 1800].map(niceStep)).toEqual([0.5, 2, 2, 2.5, 5, 0.025, 2000]);
  });

  it('starts at zero for same-signed values and widens to whole steps', () => {
    expect(valueScale(0, 3.05)).toMatchObject({
      min: 0,
      max: 3.5,
      step: 0.5,
      ticks: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5],
    });
    expect(valueScale(0.62, 0.97).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(valueScale(-3, -1).ticks).toEqual([-3, -2.5, -2, -1.5, -1, -0.5, 0]);
    expect(valueScale(-1, 2).ticks).toEqual([-1, -0.5, 0, 0.5, 1, 1.5, 2]);
  });

  it('opens up a flat or empty domain', () => {
    expect(valueScale(1, 1)).toMatchObject({ min: 0, max: 1 });
    expect(valueScale(0, 0)).toMatchObject({ min: 0, max: 1 });
    expect(valueScale(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)).toMatchObject({ min: 0, max: 1 });
  });

  it('has no float noise', () => {
    expect(valueScale(0, 0.3).ticks).toEqual([0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]);
  });
});

describe('value labels', () => {
  it('uses plain decimals in the middle range, with the precision of the step', () => {
    expect([0, 0.2, 0.4, 1].map((v) => formatValue(v, 0.2))).toEqual(['0', '0.2', '0.4', '1']);
    expect([0, 0.025, 0.05].map((v) => formatValue(v, 0.025))).toEqual(['0', '0.025', '0.05']);
    expect(formatValue(250, 50)).toBe('250');
  });

  it('uses SI prefixes for large and tiny values', () => {
    expect([0, 5000, 10000, 15000].map((v) => formatValue(v, 5000))).toEqual(['0', '5k', '10k', '15k']);
    expect(formatValue(2_500_000, 500_000)).toBe('2.5M');
    expect(formatValue(3e9, 1e9)).toBe('3G');
    expect(formatValue(1500, 500)).toBe('1.5k');
    expect(formatValue(0.0004, 0.0002)).toBe('0.4m');
    expect(formatValue(0.00004, 0.00002)).toBe('40µ');
  });

  it('formats fractions as percentages', () => {
    expect([0, 0.2, 0.5, 1].map((v) => formatValue(v, 0.2, 'percent'))).toEqual(['0%', '20%', '50%', '100%']);
    expect(formatValue(0.025, 0.025, 'percent')).toBe('2.5%');
  });

  it('writes readings with three significant digits', () => {
    expect(formatReading(3.04172)).toBe('3.04');
    expect(formatReading(0.05)).toBe('0.05');
    expect(formatReading(12_840)).toBe('12.8k');
    expect(formatReading(0.000123)).toBe('123µ');
    expect(formatReading(0.9481, 'percent')).toBe('94.8%');
    expect(formatReading(0)).toBe('0');
  });
});

describe('time ticks', () => {
  it('lands on round UTC minutes within the window', () => {
    const t = timeTicks(Date.parse('2026-11-27T21:02:31Z'), Date.parse('2026-11-27T22:02:31Z'), 8);
    expect(t.stepMs).toBe(10 * 60_000);
    expect(t.ticks.map((x) => formatTimeUtc(x, t.stepMs))).toEqual([
      '21:10',
      '21:20',
      '21:30',
      '21:40',
      '21:50',
      '22:00',
    ]);
  });

  it('shows seconds below a minute and dates at day steps', () => {
    const short = timeTicks(END - 60_000, END, 6);
    expect(short.stepMs).toBe(10_000);
    expect(formatTimeUtc(short.ticks[1] ?? 0, short.stepMs)).toBe('21:59:10');
    const week = timeTicks(END - 7 * 86_400_000, END, 8);
    expect(formatTimeUtc(week.ticks[0] ?? 0, week.stepMs)).toBe('11-21');
  });
});

describe('seriesNames', () => {
  it('names series by the one label that tells them apart, preferring host', () => {
    const s = ['app-01', 'app-02'].map((h, i) => ({
      labels: { host: h, instance: `127.0.1.${i}:8000`, job: 'qnwis' },
    }));
    expect(seriesNames(s)).toEqual({ key: 'host', names: ['app-01', 'app-02'] });
  });

  it('falls back to k=v lists when no single label is unique', () => {
    const s = [
      { labels: { host: 'a', code: '500' } },
      { labels: { host: 'a', code: '503' } },
      { labels: { host: 'b', code: '500' } },
    ];
    expect(seriesNames(s)).toEqual({
      key: null,
      names: ['code=500, host=a', 'code=503, host=a', 'code=500, host=b'],
    });
  });

  it('names a single series by host, else by metric name', () => {
    expect(seriesNames([{ labels: { __name__: 'up', host: 'app-01' } }])).toEqual({
      key: 'host',
      names: ['app-01'],
    });
    expect(seriesNames([{ labels: { __name__: 'up' } }])).toEqual({ key: null, names: ['up'] });
    expect(seriesNames([{ labels: {} }])).toEqual({ key: null, names: ['value'] });
  });
});

describe('lineChartSvg', () => {
  const three = ['app-01', 'app-02', 'app-03'].map((host, k) =>
    series(
      { host, instance: `127.0.1.${k + 1}:8000`, job: 'qnwis' },
      (i) => (k + 1) * 0.01 * (1 + Math.sin(i / 5)),
    ),
  );

  it('draws a sized SVG with axes, one coloured line per series and a legend', () => {
    const svg = lineChartSvg({
      title: 'HighErrorRate',
      subtitle: 'rate(x[5m])',
      series: three,
      threshold: { value: 0.05, label: 'alert when > 0.05' },
      start: START,
      end: END,
      width: 1000,
      height: 400,
    });
    expect(svg).toMatch(
      /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1000" height="400" viewBox="0 0 1000 400"/,
    );
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(all(group(svg, 'y-axis'), />([^<]+)<\/text>/g)).toEqual([
      '0',
      '0.01',
      '0.02',
      '0.03',
      '0.04',
      '0.05',
      '0.06',
    ]);
    expect(all(group(svg, 'x-axis'), />(\d\d:\d\d)<\/text>/g)).toEqual([
      '21:00',
      '21:10',
      '21:20',
      '21:30',
      '21:40',
      '21:50',
      '22:00',
    ]);
    const strokes = all(group(svg, 'series'), /<path d="[^"]+" stroke="([^"]+)"/g);
    expect(new Set(strokes)).toEqual(new Set(SERIES_COLORS.slice(0, 3)));
    expect(all(svg, /<g class="legend-entry">[\s\S]*?<text [^>]*fill="#1f2933">([^<]+)<\/text>/g)).toEqual([
      'app-01',
      'app-02',
      'app-03',
    ]);
    expect(svg).toContain('>host</text>');
    expect(group(svg, 'threshold')).toContain('stroke-dasharray="7 5"');
    expect(svg).toContain('alert when &gt; 0.05');
    expect(svg).not.toContain('No data');
  });

  it('puts the threshold inside the value axis even above all data', () => {
    const svg = lineChartSvg({
      title: 't',
      series: three,
      threshold: { value: 0.5 },
      start: START,
      end: END,
    });
    const labels = all(group(svg, 'y-axis'), />([^<]+)<\/text>/g).map(Number);
    expect(Math.max(...labels)).toBeGreaterThan(0.5);
    expect(svg).toContain('>threshold 0.5</text>');
  });

  it('escapes every piece of text for XML', () => {
    const svg = lineChartSvg({
      title: 'A <b>&"quoted"\'</b>',
      subtitle: 'x{job="a&b"} < 1',
      series: [series({ host: '<script>' }, () => 1), series({ host: 'a&b' }, () => 2)],
      start: START,
      end: END,
    });
    expect(svg).toContain('A &lt;b&gt;&amp;&quot;quoted&quot;&apos;&lt;/b&gt;');
    expect(svg).toContain('x{job=&quot;a&amp;b&quot;} &lt; 1');
    expect(svg).toContain('>&lt;script&gt;</text>');
    expect(svg).toContain('>a&amp;b</text>');
    expect(svg).not.toMatch(/<(script|b)>/);
    expect(escapeXml('bell\u0007tab\t')).toBe('belltab\t');
  });

  it('colours at most 8 series and summarises the rest', () => {
    const many = Array.from({ length: 12 }, (_, k) => series({ host: `web-${k}` }, () => k));
    const svg = lineChartSvg({ title: 'many', series: many, start: START, end: END });
    expect(all(svg, /<g class="legend-entry">/g)).toHaveLength(8);
    expect(group(svg, 'legend')).toContain('+4 more series');
    const strokes = all(group(svg, 'series'), /<path d="[^"]+" stroke="([^"]+)"/g);
    expect(strokes).toHaveLength(12);
    expect(strokes.filter((s) => s === '#bcc3cc')).toHaveLength(4);
  });

  it('shows a no-data state with a time axis and no legend', () => {
    const svg = lineChartSvg({
      title: 'empty',
      series: [{ labels: { host: 'a' }, points: [] }],
      start: START,
      end: END,
    });
    expect(svg).toContain('class="no-data"');
    expect(svg).toContain('No data in this window');
    expect(all(svg, /<g class="legend-entry">/g)).toHaveLength(0);
    expect(all(group(svg, 'x-axis'), />(\d\d:\d\d)<\/text>/g)).toHaveLength(7);
    expect(group(svg, 'series')).not.toContain('<path');
  });

  it('breaks a line where samples are missing and marks lone points', () => {
    const gappy: ChartSeries = {
      labels: { host: 'a' },
      points: [
        [START, 1],
        [START + 60_000, 2],
        [START + 600_000, 3],
        [START + 1_200_000, 1],
        [START + 1_260_000, 1],
      ],
    };
    const svg = lineChartSvg({ title: 'gaps', series: [gappy], start: START, end: END, stepMs: 60_000 });
    const d = /<path d="([^"]+)"/.exec(group(svg, 'series'))?.[1] ?? '';
    expect(d.match(/M/g)).toHaveLength(2);
    expect(group(svg, 'series')).toContain('<circle');
  });
});

describe('alert chart helpers', () => {
  const low = series({ host: 'low' }, () => 0.1);
  const high = series({ host: 'high' }, (i) => (i === 30 ? 0.9 : 0.2));

  it('ranks series by how far they went in the alert direction', () => {
    expect(rankSeries([low, high], '>').map((s) => s.labels.host)).toEqual(['high', 'low']);
    expect(rankSeries([high, low], '<').map((s) => s.labels.host)).toEqual(['low', 'high']);
    expect(rankSeries([low, high], null).map((s) => s.labels.host)).toEqual(['high', 'low']);
  });

  it('uses percent only for fraction gauges', () => {
    expect(guessValueFormat('qnwis_cache_hit_rate{job="qnwis"}', [low, high], 0.5)).toBe('percent');
    expect(guessValueFormat('node_memory_usage{job="node"}', [low], 0.85)).toBe('percent');
    expect(guessValueFormat('sum(rate(qnwis_errors_total[20s]))', [low], 0.05)).toBe('si');
    expect(guessValueFormat('node_memory_usage', [series({}, () => 3)], null)).toBe('si');
    expect(guessValueFormat('up{job="qnwis"}', [low], 0)).toBe('si');
  });

  it('builds a safe filename and a readable alt text', () => {
    expect(chartFilename('HighErrorRate on app-01 / "prod"', END)).toBe(
      'HighErrorRate-on-app-01-prod-20261127-2200Z.png',
    );
    expect(chartFilename('***', END)).toBe('chart-20261127-2200Z.png');
    const alt = chartAltText({
      title: 'HighErrorRate',
      expr: 'rate(x[5m])',
      series: [high, low],
      start: START,
      end: END,
      format: 'si',
      thresholdText: '> 0.05',
    });
    expect(alt).toBe(
      'Line chart "HighErrorRate": rate(x[5m]) from 21:00 to 22:00 UTC, 2 series by host: high last 0.2 (peak 0.9); low last 0.1 (peak 0.1). Alert when > 0.05.',
    );
  });
});
