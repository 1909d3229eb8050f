/**
 * Alert charts end to end against real services: the lab's Prometheus (scraping the app hosts every
 * second), the chart rendered from the lab's own HighErrorRate rule, and the PNG uploaded with the
 * real SlackChatClient (WebClient's files.uploadV2) into a thread on the local Slack stand-in.
 * Nothing is mocked. The chart is kept in test-results/alert-chart.png for people to look at.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type AlertChart, alertChart } from '../../src/bot/charts/alert-chart.js';
import { createWebClient, SlackChatClient } from '../../src/bot/chat.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/index.js';
import { PrometheusQueryError, PrometheusUnavailableError, SlackRejectedError } from '../../src/errors.js';
import { PrometheusClient } from '../../src/ops/prometheus.js';
import { lab } from '../support/lab.js';

const PROMETHEUS_URL = `http://${lab.prometheusListen}`;
const SECRET = 'charts-integration-signing-secret-0123';
const TOKEN = 'xoxb-charts-integration';
const OPS = 'C0QNWISOPS';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Go's url.QueryEscape: how Prometheus puts an alert's expression into its generatorURL. */
function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%20', '+');
}

/** The expression of one alert rule in lab/prometheus/rules.yml. */
function ruleExpr(alert: string): string {
  const rules = parseYaml(readFileSync('lab/prometheus/rules.yml', 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
  if (!rule) throw new Error(`no rule ${alert} in lab/prometheus/rules.yml`);
  return rule.expr;
}

interface InspectedMessage {
  ts: string;
  thread_ts: string | null;
  text: string;
  files: { id: string; name: string; title: string; mimetype: string; size: number; url_private: string }[];
}

const prometheus = new PrometheusClient(PROMETHEUS_URL, { timeoutMs: 10_000 });

describe('PrometheusClient against the lab', () => {
  it('returns the three app hosts for up{job="qnwis"} over the last 5 minutes', async () => {
    const end = Date.now();
    const res = await prometheus.queryRange('up{job="qnwis"}', { start: end - 5 * 60_000, end, stepSec: 15 });
    expect(res.stepSec).toBe(15);
    expect(res.series.map((s) => s.labels.host).sort()).toEqual(['app-01', 'app-02', 'app-03']);
    for (const s of res.series) {
      expect(s.labels).toMatchObject({ __name__: 'up', job: 'qnwis' });
      expect(s.points.length).toBeGreaterThan(5);
      for (const [ts, v] of s.points) {
        expect(ts).toBeGreaterThanOrEqual(end - 5 * 60_000 - 1);
        expect(ts).toBeLessThanOrEqual(end + 1);
        expect([0, 1]).toContain(v);
      }
    }
  });

  it('raises a step that would exceed 11,000 points instead of being refused', async () => {
    const end = Date.now();
    const res = await prometheus.queryRange('up{job="qnwis"}', {
      start: end - 6 * 3_600_000,
      end,
      stepSec: 1,
    });
    expect(res.stepSec).toBe(2);
  });

  it('reports a bad expression as a permanent PrometheusQueryError with its errorType', async () => {
    const end = Date.now();
    const err = await prometheus
      .queryRange('up{job="qnwis"', { start: end - 60_000, end, stepSec: 15 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusQueryError);
    expect(err).toMatchObject({ errorType: 'bad_data', status: 400, transient: false });
    expect((err as PrometheusQueryError).error).toMatch(/parse error/);
  });

  it('reports a Prometheus that does not answer as transient', async () => {
    const nobody = new PrometheusClient('http://127.0.0.1:1', { timeoutMs: 2_000 });
    const end = Date.now();
    const err = await nobody
      .queryRange('up', { start: end - 60_000, end, stepSec: 15 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrometheusUnavailableError);
    expect(err).toMatchObject({
      code: 'prometheus_unavailable',
      transient: true,
      url: 'http://127.0.0.1:1/api/v1/query_range',
    });
  });
});

describe('the HighErrorRate chart, uploaded into an incident thread', () => {
  let slack: SlackLocal;
  let chat: SlackChatClient;
  let chart: AlertChart;
  const generatorUrl = `${PROMETHEUS_URL}/graph?g0.expr=${goQueryEscape(ruleExpr('HighErrorRate'))}&g0.tab=1`;

  beforeAll(async () => {
    slack = await startSlackLocal({ signingSecret: SECRET, port: 0, tokens: [TOKEN] });
    chat = new SlackChatClient(createWebClient(TOKEN, slack.apiUrl));
  });
  afterAll(async () => {
    await slack?.close();
  });

  it("renders the rule's watched side over the last hour as a 1000×400 PNG", async () => {
    const rendered = await alertChart({
      prometheus,
      generatorUrl,
      title: 'HighErrorRate · QNWIS app hosts',
      now: Date.now(),
      windowMs: 3_600_000,
    });
    expect(rendered).not.toBeNull();
    chart = rendered as AlertChart;
    mkdirSync('test-results', { recursive: true });
    writeFileSync('test-results/alert-chart.png', chart.png);

    expect(chart.png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect([chart.png.readUInt32BE(16), chart.png.readUInt32BE(20)]).toEqual([1000, 400]);
    expect(chart.filename).toMatch(/^HighErrorRate-QNWIS-app-hosts-\d{8}-\d{4}Z\.png$/);
    // The left side of `… > 0.05` returns every host, also while none is failing.
    expect(chart.svg.match(/<g class="legend-entry">/g)).toHaveLength(3);
    expect(chart.svg).toContain('alert when &gt; 0.05');
    expect(chart.altText).toMatch(/3 series by host: app-0\d last/);
  });

  it('uploads it into the thread and the stand-in shows the file on the reply', async () => {
    const parent = await chat.postMessage(OPS, { text: ':rotating_light: HighErrorRate on app-01' });
    const { fileId } = await chat.uploadFile(
      OPS,
      {
        filename: chart.filename,
        title: 'HighErrorRate, last hour',
        content: chart.png,
        altText: chart.altText,
        initialComment: 'Error rate per host over the last hour',
      },
      parent.ts,
    );
    expect(fileId).toMatch(/^F/);

    const res = await fetch(`${slack.url}/_local/messages?channel=${OPS}`);
    const messages = (await res.json()) as InspectedMessage[];
    const reply = messages.find((m) => m.files.some((f) => f.id === fileId));
    expect(reply).toBeDefined();
    expect(reply).toMatchObject({ thread_ts: parent.ts, text: 'Error rate per host over the last hour' });
    expect(reply?.ts).not.toBe(parent.ts);
    expect(reply?.files[0]).toMatchObject({
      id: fileId,
      name: chart.filename,
      title: 'HighErrorRate, last hour',
      mimetype: 'image/png',
      size: chart.png.length,
    });
    // The bytes Slack holds are the PNG we rendered.
    const stored = Buffer.from(await (await fetch(reply?.files[0]?.url_private ?? '')).arrayBuffer());
    expect(stored.equals(chart.png)).toBe(true);
  });

  it('maps a refused upload to SlackRejectedError', async () => {
    const err = await chat
      .uploadFile('C0NOSUCHCH', { filename: 'x.png', title: 'x', content: chart.png })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackRejectedError);
    expect(err).toMatchObject({ slackError: 'channel_not_found', transient: false });
  });
});
