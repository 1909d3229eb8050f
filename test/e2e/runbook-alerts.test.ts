/**
 * Each of the runbook's six alerts fires for real through Prometheus → Alertmanager when its fault
 * breaks the lab, and resolves when the fault is healed. The assertions are on the webhook payloads
 * Alertmanager actually delivered (recorded by the lab's sink, which receives exactly what the bot
 * receives), and on what the bot made of them: exactly one top-level Slack message in the routed
 * channel with the runbook severity, turned resolved in place; a PagerDuty incident for SEV-1/2 only.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type FaultName, Faults } from '../../lab/faults.js';
import { eventually, isTopLevel, type SlackMessageView } from '../support/bot.js';
import { type AlertmanagerAlert, lab, labCredentials, type Received, WebhookSink } from '../support/lab.js';

const sink = new WebhookSink();
const faults = new Faults(lab);
const FIRE_WITHIN_MS = 60_000;
const RESOLVE_WITHIN_MS = 60_000;

interface Case {
  fault: FaultName;
  host?: string;
  alert: string;
  severity: 'critical' | 'warning';
  /** What the bot must show: the runbook severity and the routed channel. */
  sev: 'SEV-1' | 'SEV-2' | 'SEV-3' | 'SEV-4';
  channel: 'qnwis-alerts' | 'qnwis-db';
  /** The `host` label the alert must carry (absent for fleet-wide alerts). */
  alertHost?: string;
  /** Real evidence the playbook's thread reply must show for this fault. */
  evidence: RegExp;
}

const CASES: Case[] = [
  // biome-ignore format: one case per line reads as a table
  { fault: 'error-rate', host: 'app-01', alert: 'HighErrorRate', severity: 'critical', alertHost: 'app-01', sev: 'SEV-2', channel: 'qnwis-alerts', evidence: /\d+ ERROR lines.*×\d+/s },
  // biome-ignore format: one case per line reads as a table
  { fault: 'down', host: 'app-02', alert: 'ServiceDown', severity: 'critical', alertHost: 'app-02', sev: 'SEV-3', channel: 'qnwis-alerts', evidence: /app-02.*inactive/s },
  // biome-ignore format: one case per line reads as a table
  { fault: 'db-down', alert: 'DatabaseDown', severity: 'critical', alertHost: 'app-01', sev: 'SEV-1', channel: 'qnwis-db', evidence: /db-primary.*(unreachable|refused|not accepting|could not connect|ECONNREFUSED)/is },
  // biome-ignore format: one case per line reads as a table
  { fault: 'slow-query', alert: 'QueryLatencyHigh', severity: 'warning', sev: 'SEV-3', channel: 'qnwis-alerts', evidence: /pid \d+.*pg_sleep/s },
  // biome-ignore format: one case per line reads as a table
  { fault: 'cache-miss', alert: 'LowCacheHitRate', severity: 'warning', alertHost: 'app-01', sev: 'SEV-3', channel: 'qnwis-db', evidence: /redis-01.*(maxmemory|hit rate)/is },
  // biome-ignore format: one case per line reads as a table
  { fault: 'memory', host: 'app-03', alert: 'HighMemoryUsage', severity: 'warning', alertHost: 'app-03', sev: 'SEV-3', channel: 'qnwis-alerts', evidence: /app-03.*top RSS: pid \d+ qnwis-app/s },
];

let webhookToken = '';

beforeAll(async () => {
  webhookToken = (await labCredentials()).webhookToken;
  await faults.heal();
  // Wait until none of the runbook alerts is still firing from an earlier run.
  await waitUntilQuiet();
});

afterAll(async () => {
  await faults.heal();
});

const matches = (c: Case, status: 'firing' | 'resolved') => (a: AlertmanagerAlert) =>
  a.labels.alertname === c.alert && a.status === status && (!c.alertHost || a.labels.host === c.alertHost);

describe('the runbook alerts fire and resolve through Prometheus and Alertmanager', () => {
  it('delivers the Watchdog heartbeat with the webhook bearer token', async () => {
    // The heartbeat repeats every minute (lab/components/monitoring.ts).
    const hit = await sink.waitFor((r) => r.body.alerts.some((a) => a.labels.alertname === 'Watchdog'), {
      after: 0,
      timeoutMs: 75_000,
    });
    expect(hit.authorized).toBe(true);
    expect(hit.headers['user-agent']).toMatch(/^Alertmanager\//);
  });

  for (const c of CASES) {
    it(`${c.fault} makes ${c.alert} fire, heal resolves it`, async () => {
      // Whatever fails below, the fault must not outlive this test (the next ones share the lab).
      onTestFinished(() => faults.heal(c.fault).then(() => undefined));
      const before = await sink.lastSeq();
      const since = Date.now() / 1000;
      await faults.inject(c.fault, c.host);

      const firing = await sink.waitFor((r) => r.body.alerts.some(matches(c, 'firing')), {
        after: before,
        timeoutMs: FIRE_WITHIN_MS,
      });
      assertWebhookShape(firing);
      const alert = firing.body.alerts.find(matches(c, 'firing'));
      expect(alert).toBeDefined();
      if (!alert) return;
      expect(firing.body.groupLabels).toEqual({ alertname: c.alert });
      expect(alert.labels.severity).toBe(c.severity);
      expect(alert.annotations.summary).toBeTruthy();
      expect(alert.annotations.runbook).toBeTruthy();
      // While firing, Alertmanager sends the zero time as endsAt.
      expect(alert.endsAt).toBe('0001-01-01T00:00:00Z');
      expect(alert.generatorURL).toContain('/graph?g0.expr=');

      // The bot: one top-level message in the routed channel with the runbook severity.
      const posted = await waitForMessage(
        c,
        since,
        (m) => m.text.startsWith(`${c.sev} ${c.alert} `),
        FIRE_WITHIN_MS,
      );
      const key = /QNWIS-\d+/.exec(JSON.stringify(posted.blocks))?.[0] ?? '';
      expect(key).toMatch(/^QNWIS-\d+$/);
      const pages = c.sev === 'SEV-1' || c.sev === 'SEV-2';
      if (pages) await waitForPage(key, 'triggered');

      // The playbook ran against the real hosts: its thread reply shows the fault's evidence.
      const diagnosis = await eventually(
        `the ${c.alert} diagnostics in the thread`,
        async () =>
          (await messages(c.channel)).find(
            (m) => m.thread_ts === posted.ts && m.text.startsWith('Diagnostics:'),
          ),
        FIRE_WITHIN_MS,
      );
      expect(`${diagnosis.text}\n${JSON.stringify(diagnosis.blocks)}`).toMatch(c.evidence);

      const afterFiring = firing.seq;
      await faults.heal(c.fault);
      const resolved = await sink.waitFor(
        (r) => r.body.alerts.some((a) => a.fingerprint === alert.fingerprint && a.status === 'resolved'),
        { after: afterFiring, timeoutMs: RESOLVE_WITHIN_MS },
      );
      assertWebhookShape(resolved);
      const done = resolved.body.alerts.find((a) => a.fingerprint === alert.fingerprint);
      expect(done?.startsAt).toBe(alert.startsAt);
      expect(Date.parse(done?.endsAt ?? '')).toBeGreaterThan(Date.parse(alert.startsAt));

      // The same message turns resolved; nothing new at top level.
      await waitForMessage(
        c,
        since,
        (m) => m.ts === posted.ts && / RESOLVED /.test(m.text),
        RESOLVE_WITHIN_MS,
      );
      const top = (await messages(c.channel)).filter(
        (m) => isTopLevel(m) && Number(m.ts) >= since && m.text.includes(` ${c.alert} `),
      );
      expect(top.map((m) => m.ts)).toEqual([posted.ts]);
      if (pages) await waitForPage(key, 'resolved');
      else expect((await pdIncidents()).filter((i) => i.incident_key === key)).toEqual([]);
    });
  }
});

async function messages(channel: string): Promise<SlackMessageView[]> {
  const res = await fetch(`${lab.standInUrls().slackUrl}/_local/messages?channel=${channel}`);
  return (await res.json()) as SlackMessageView[];
}

async function waitForMessage(
  c: Case,
  since: number,
  match: (m: SlackMessageView) => boolean,
  timeoutMs: number,
): Promise<SlackMessageView> {
  return eventually(
    `a ${c.sev} ${c.alert} message in #${c.channel}`,
    async () => (await messages(c.channel)).find((m) => isTopLevel(m) && Number(m.ts) >= since && match(m)),
    timeoutMs,
  );
}

async function pdIncidents(): Promise<{ incident_key: string; status: string }[]> {
  const res = await fetch(`${lab.standInUrls().pagerdutyUrl}/_local/incidents`);
  return (await res.json()) as { incident_key: string; status: string }[];
}

async function waitForPage(key: string, status: 'triggered' | 'resolved'): Promise<void> {
  await eventually(
    `PagerDuty incident ${key} ${status}`,
    async () => {
      const found = (await pdIncidents()).filter((i) => i.incident_key === key);
      return found.length === 1 && found[0]?.status === status;
    },
    30_000,
  );
}

function assertWebhookShape(r: Received): void {
  expect(r.authorized).toBe(true);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.body).toMatchObject({ version: '4', receiver: 'lab-sink' });
  expect(r.body.groupKey).toMatch(/alertname=/);
  expect(r.body.externalURL).toMatch(/^http:\/\/127\.0\.0\.1:9093/);
  for (const a of r.body.alerts) expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  expect(webhookToken.length).toBeGreaterThan(16);
}

/** The lab bot's own open incidents for these alerts (a resolution it has not processed yet). */
async function openIncidents(names: Set<string>): Promise<number> {
  const url = (await lab.status()).botEnv?.DATABASE_URL;
  if (!url) return 0;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query(
      "SELECT count(*)::int AS n FROM incidents WHERE status <> 'resolved' AND alertname = ANY($1)",
      [[...names]],
    );
    return Number(res.rows[0]?.n ?? 0);
  } catch {
    return 0; // no schema yet: nothing open
  } finally {
    await client.end();
  }
}

async function waitUntilQuiet(): Promise<void> {
  const names = new Set(CASES.map((c) => c.alert));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const res = await fetch(
      `${(await lab.status()).urls.alertmanager}/api/v2/alerts?active=true&silenced=false`,
    );
    const active = (await res.json()) as { labels: Record<string, string> }[];
    if (!active.some((a) => names.has(a.labels.alertname ?? '')) && (await openIncidents(names)) === 0)
      return;
    if (Date.now() > deadline)
      throw new Error('runbook alerts still active (or open in the bot) 90 s after healing the lab');
    await new Promise((r) => setTimeout(r, 1000));
  }
}
