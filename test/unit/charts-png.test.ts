import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { alertChart } from '../../src/bot/charts/alert-chart.js';
import { lineChartSvg } from '../../src/bot/charts/line-chart.js';
import { chartFont, FONT_CANDIDATES, renderPng } from '../../src/bot/charts/render-png.js';
import type { RangeQuerier, RangeQueryOptions } from '../../src/ops/prometheus.js';

const END = Date.parse('2026-11-27T22:00:00Z');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which always comes first. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('renderPng', () => {
  it('renders the chart as a 1000×400 PNG', () => {
    const svg = lineChartSvg({
      title: 'HighErrorRate',
      series: [
        {
          labels: { host: 'app-01' },
          points: [
            [END - 60_000, 1],
            [END, 2],
          ],
        },
      ],
      start: END - 3_600_000,
      end: END,
      width: 1000,
      height: 400,
    });
    const png = renderPng(svg);
    expect(pngSize(png)).toEqual({ width: 1000, height: 400 });
    // Text is drawn (a font was found): more than a blank page compresses to.
    expect(png.length).toBeGreaterThan(5_000);
  });

  it('loads DejaVu Sans when the machine has it, else falls back to the system fonts', () => {
    const font = chartFont();
    if (existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')) {
      expect(font).toEqual({
        family: 'DejaVu Sans',
        files: FONT_CANDIDATES[0].files.filter((f) => existsSync(f)),
      });
    } else if (font.family === null) {
      expect(font.files).toEqual([]);
    }
  });
});

/** A RangeQuerier that answers from memory: the port, not a mock of the HTTP client. */
class FixedSeries implements RangeQuerier {
  readonly calls: { expr: string; range: RangeQueryOptions }[] = [];
  async queryRange(expr: string, range: RangeQueryOptions) {
    this.calls.push({ expr, range });
    const points = (k: number): [number, number][] =>
      Array.from({ length: 721 }, (_, i) => [+range.start + i * 5000, k * 0.02 + (i % 100 === 0 ? 0.1 : 0)]);
    return {
      stepSec: range.stepSec,
      warnings: [],
      series: [1, 2, 3].map((k) => ({ labels: { host: `app-0${k}`, job: 'qnwis' }, points: points(k) })),
    };
  }
}

describe('alertChart', () => {
  const generatorUrl = `http://127.0.0.1:9090/graph?g0.expr=${encodeURIComponent('sum by (host) (rate(qnwis_errors_total[20s])) > 0.05')}&g0.tab=1`;

  it('queries the left side of the comparison over the last hour and renders it', async () => {
    const prometheus = new FixedSeries();
    const chart = await alertChart({ prometheus, generatorUrl, title: 'HighErrorRate on app-01', now: END });
    expect(prometheus.calls).toEqual([
      {
        expr: 'sum by (host) (rate(qnwis_errors_total[20s]))',
        range: { start: END - 3_600_000, end: END, stepSec: 5 },
      },
    ]);
    expect(chart).not.toBeNull();
    expect(pngSize(chart?.png ?? Buffer.alloc(0))).toEqual({ width: 1000, height: 400 });
    expect(chart?.filename).toBe('HighErrorRate-on-app-01-20261127-2200Z.png');
    expect(chart?.altText).toMatch(
      /^Line chart "HighErrorRate on app-01": sum by \(host\) .* from 21:00 to 22:00 UTC, 3 series by host: app-03 /,
    );
    expect(chart?.altText).toContain('Alert when > 0.05.');
    expect(chart?.svg).toContain('alert when &gt; 0.05');
  });

  it('is null when the generatorURL has no expression', async () => {
    const prometheus = new FixedSeries();
    expect(
      await alertChart({ prometheus, generatorUrl: 'http://127.0.0.1:9090/graph', title: 'x', now: END }),
    ).toBeNull();
    expect(prometheus.calls).toHaveLength(0);
  });
});
