/**
 * The dead-man switch end to end (issue 7, item 7; acceptance "Stopping Alertmanager → Watchdog
 * missing → page through the PagerDuty stand-in"): the real bot (test/support/bot.ts) with its
 * duties started as src/main.ts starts them in the worker role, short WATCHDOG_* settings, and its
 * own Slack and PagerDuty stand-ins.
 *
 * 1. Two duty workers (two replicas), the Watchdog fed through the Alertmanager webhook, then not:
 *    one page, one Slack message; fed again: the page resolved with the same key, one message.
 * 2. A real Alertmanager (the lab's binary, a private instance on a free port so the shared lab's
 *    own Alertmanager is never stopped) delivers the lab Prometheus's real `Watchdog` alert to the
 *    bot, relayed as Prometheus's notifier does. Stopping that Alertmanager pages; starting it
 *    again resolves the page.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createWebClient, PatientChatClient, SlackChatClient } from '../../src/bot/chat.js';
import { parseConfig } from '../../src/config.js';
import { createRouter, DEFAULT_ROUTES } from '../../src/incidents/routing.js';
import { type RunningDuties, startDuties } from '../../src/jobs/duties.js';
import { createQueues, type Queues } from '../../src/jobs/queues.js';
import { silentLogger } from '../../src/observability/logger.js';
import { IncidentStore } from '../../src/store/incidents.js';
import {
  eventually,
  freePort,
  notification,
  postAlertmanager,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { type LabFleet, openLabFleet } from '../support/fleet.js';
import { lab } from '../support/lab.js';

const MAX_SILENCE_SEC = 30;
const DUTY_SETTINGS = {
  WATCHDOG_MAX_SILENCE_SEC: String(MAX_SILENCE_SEC),
  WATCHDOG_CHECK_SEC: '1',
  // Only the dead-man switch: the other duties have their own tests.
  DUTY_BACKUP_CHECK_CRON: 'off',
  DUTY_SLO_DIGEST_CRON: 'off',
  DUTY_ERROR_LOG_REVIEW_CRON: 'off',
  DUTY_MAINTENANCE_CHECK_SEC: '0',
};
const BROKEN = '🚨 Alerting pipeline broken';
const BACK = '✅ Alerting pipeline back';

interface PdEvent {
  outcome: string;
  event_action?: string;
  dedup_key?: string;
  body: { payload?: { summary?: string; severity?: string } };
}

let bot: TestBot | undefined;
let fleet: LabFleet | undefined;
let redis: Redis | undefined;
let queues: Queues | undefined;
const running: RunningDuties[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const d of running.splice(0)) await d.close();
  for (const c of cleanups.splice(0).reverse()) await c();
  await queues?.close();
  redis?.disconnect();
  await fleet?.close();
  await bot?.stop();
  bot = undefined;
  fleet = undefined;
  redis = undefined;
  queues = undefined;
});

/** The bot, plus `replicas` duty workers wired as src/main.ts wires them (worker role). */
async function startBotWithDuties(replicas: number): Promise<TestBot> {
  // The bot starts its own duties too (src/main.ts): the same settings as the extra replicas, as
  // every replica of a deployment has (replicas that disagreed on the limit would flap the page).
  const b = await startTestBot({ env: DUTY_SETTINGS });
  bot = b;
  fleet = await openLabFleet();
  redis = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: null });
  queues = createQueues(redis, b.prefix);
  const config = parseConfig({
    QUEUE_PREFIX: b.prefix,
    PAGERDUTY_EVENTS_URL: b.pagerduty.url,
    PAGERDUTY_ROUTING_KEY: b.pagerduty.routingKey,
    ...DUTY_SETTINGS,
  });
  const store = new IncidentStore(b.db);
  for (let i = 0; i < replicas; i++) {
    running.push(
      await startDuties({
        config,
        inventory: fleet.inventory,
        connection: redis,
        queues,
        store,
        fleet: fleet.ctx,
        chat: new PatientChatClient(
          new SlackChatClient(createWebClient('xoxb-watchdog-e2e', b.slack.apiUrl)),
        ),
        recordContext: {
          router: createRouter(DEFAULT_ROUTES, config.SLACK_DEFAULT_CHANNEL),
          appHosts: ['app-01', 'app-02', 'app-03'],
          heartbeatAlerts: new Set(['Watchdog']),
        },
        log: silentLogger,
      }),
    );
  }
  return b;
}

async function pdEvents(b: TestBot): Promise<PdEvent[]> {
  const res = await fetch(`${b.pagerduty.url}/_local/events`);
  return ((await res.json()) as PdEvent[]).filter((e) => e.dedup_key?.startsWith('qnwis-watchdog-missing-'));
}

/** The status of the PagerDuty incident whose alert has `dedupKey` (the stand-in's view). */
async function pdIncidentStatus(b: TestBot, dedupKey: string | undefined): Promise<string | undefined> {
  const res = await fetch(`${b.pagerduty.url}/_local/incidents`);
  const incidents = (await res.json()) as { status: string; alerts: { dedup_key: string }[] }[];
  const mine = incidents.filter((i) => i.alerts.some((a) => a.dedup_key === dedupKey));
  expect(mine).toHaveLength(1);
  return mine[0]?.status;
}

async function pipelineMessages(b: TestBot): Promise<{ broken: string[]; back: string[] }> {
  const all = await slackMessages(b, 'qnwis-alerts');
  return {
    broken: all.filter((m) => m.text.startsWith(BROKEN)).map((m) => m.text),
    back: all.filter((m) => m.text.startsWith(BACK)).map((m) => m.text),
  };
}

async function health(b: TestBot) {
  const res = await fetch(`${b.url}/health/detailed`, { headers: { authorization: `Bearer ${b.opsToken}` } });
  return (await res.json()) as {
    checks: {
      alertingHeartbeat: {
        lastSeen: string | null;
        deadManSwitch: { status: string; paged: boolean; outageSince: string | null } | null;
      };
    };
  };
}

/** Calls `fn` every `ms` until stopped (errors are part of the scenario: a stopped Alertmanager). */
function every(ms: number, fn: () => Promise<unknown>): { stop(): void } {
  let on = true;
  void (async () => {
    while (on) {
      await fn().catch(() => undefined);
      await sleep(ms);
    }
  })();
  return {
    stop() {
      on = false;
    },
  };
}

describe('dead-man switch', () => {
  it('Watchdog through the webhook stops: one page and one message across two replicas; back: resolved once', {
    timeout: 150_000,
  }, async () => {
    const b = await startBotWithDuties(2);
    const startsAt = new Date().toISOString();
    const watchdog = notification('Watchdog', {
      labels: { severity: 'none' },
      startsAt,
      fingerprint: 'f00dcafe00000001',
    });
    const feed = every(2000, () => postAlertmanager(b, watchdog));
    cleanups.push(() => feed.stop());
    await eventually('the first heartbeat', async () => (await health(b)).checks.alertingHeartbeat.lastSeen);
    await sleep(4000);
    expect(await pdEvents(b)).toEqual([]);

    feed.stop();
    const [trigger] = await eventually(
      'the page',
      async () => {
        const events = (await pdEvents(b)).filter((e) => e.event_action === 'trigger');
        return events.length > 0 ? events : null;
      },
      (MAX_SILENCE_SEC + 20) * 1000,
    );
    // Not before the limit: the silence the bot measured when it paged.
    const silentSec = Number(/heartbeat for (\d+) s/.exec(trigger?.body.payload?.summary ?? '')?.[1]);
    expect(silentSec).toBeGreaterThanOrEqual(MAX_SILENCE_SEC);
    expect(trigger).toMatchObject({ outcome: 'accepted', body: { payload: { severity: 'critical' } } });
    expect(trigger?.body.payload?.summary).toMatch(
      /^QNWIS alert pipeline broken: no Watchdog heartbeat for /,
    );
    await eventually('the Slack message', async () => (await pipelineMessages(b)).broken.length > 0);
    expect((await health(b)).checks.alertingHeartbeat.deadManSwitch).toMatchObject({
      status: 'missing',
      paged: true,
    });

    // More checks by both replicas change nothing: once per outage.
    await sleep(5000);
    expect((await pdEvents(b)).filter((e) => e.event_action === 'trigger')).toHaveLength(1);
    const missing = await pipelineMessages(b);
    expect(missing.broken).toHaveLength(1);
    expect(missing.broken[0]).toMatch(
      /^🚨 Alerting pipeline broken: no Watchdog heartbeat for \d+ s \(last at /,
    );
    expect(await pdIncidentStatus(b, trigger?.dedup_key)).toBe('triggered');

    // The Watchdog arrives again.
    const again = every(2000, () => postAlertmanager(b, watchdog));
    cleanups.push(() => again.stop());
    const resolve = await eventually('the page resolved', async () =>
      (await pdEvents(b)).find((e) => e.event_action === 'resolve'),
    );
    expect(resolve.dedup_key).toBe(trigger?.dedup_key);
    await eventually('the back message', async () => (await pipelineMessages(b)).back.length > 0);
    await sleep(4000);
    const after = await pipelineMessages(b);
    expect(after.back).toHaveLength(1);
    expect(after.back[0]).toMatch(
      /^✅ Alerting pipeline back: the Watchdog heartbeat arrives again after \d+ s/,
    );
    expect((await pdEvents(b)).filter((e) => e.event_action === 'resolve')).toHaveLength(1);
    expect(await pdIncidentStatus(b, trigger?.dedup_key)).toBe('resolved');
    expect((await health(b)).checks.alertingHeartbeat.deadManSwitch).toMatchObject({
      status: 'ok',
      paged: false,
    });
  });

  it('stopping a real Alertmanager pages through the PagerDuty stand-in; starting it resolves the page', {
    timeout: 180_000,
  }, async () => {
    const b = await startBotWithDuties(1);
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'qnwis-watchdog-am-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const configFile = path.join(dir, 'alertmanager.yml');
    writeFileSync(
      configFile,
      stringify({
        route: {
          receiver: 'bot',
          group_by: ['alertname'],
          group_wait: '1s',
          group_interval: '1s',
          // The Watchdog re-sent every few seconds, as the lab's is every minute.
          repeat_interval: '3s',
        },
        receivers: [
          {
            name: 'bot',
            webhook_configs: [
              {
                url: `${b.url}/webhooks/alertmanager`,
                send_resolved: true,
                http_config: { authorization: { type: 'Bearer', credentials: b.token } },
              },
            ],
          },
        ],
      }),
      { mode: 0o600 },
    );
    let am: ChildProcess | undefined;
    const startAlertmanager = async () => {
      am = spawn(
        '/usr/bin/prometheus-alertmanager',
        [
          `--config.file=${configFile}`,
          `--storage.path=${path.join(dir, `data-${randomBytes(3).toString('hex')}`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--cluster.listen-address=',
        ],
        { stdio: 'ignore' },
      );
      await eventually('the private Alertmanager to be ready', async () =>
        fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.ok),
      );
    };
    const stopAlertmanager = async () => {
      const p = am;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await exited;
    };
    cleanups.push(stopAlertmanager);
    await startAlertmanager();

    // Prometheus's notifier, for this Alertmanager: the lab Prometheus's active Watchdog, re-sent
    // every second with an end a few seconds ahead (Prometheus: 4 × its resend delay).
    const relay = every(1000, async () => {
      const res = await fetch(`http://${lab.prometheusListen}/api/v1/alerts`);
      const body = (await res.json()) as {
        data: {
          alerts: {
            labels: Record<string, string>;
            annotations: Record<string, string>;
            activeAt: string;
            state: string;
          }[];
        };
      };
      const alerts = body.data.alerts
        .filter((a) => a.labels.alertname === 'Watchdog' && a.state === 'firing')
        .map((a) => ({
          labels: a.labels,
          annotations: a.annotations,
          startsAt: a.activeAt,
          endsAt: new Date(Date.now() + 20_000).toISOString(),
          generatorURL: `http://${lab.prometheusListen}/graph?g0.expr=vector%281%29`,
        }));
      if (alerts.length === 0) throw new Error('the lab Prometheus has no firing Watchdog');
      await fetch(`http://127.0.0.1:${port}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
    });
    cleanups.push(() => relay.stop());

    await eventually(
      'a Watchdog delivered by the real Alertmanager',
      async () => (await health(b)).checks.alertingHeartbeat.lastSeen,
      20_000,
    );
    await sleep(5000);
    expect(await pdEvents(b)).toEqual([]);

    await stopAlertmanager();
    const [trigger] = await eventually(
      'the page after Alertmanager stopped',
      async () => {
        const events = (await pdEvents(b)).filter((e) => e.event_action === 'trigger');
        return events.length > 0 ? events : null;
      },
      (MAX_SILENCE_SEC + 25) * 1000,
    );
    expect(trigger?.body.payload?.summary).toContain(
      'Prometheus → Alertmanager → qnwis-chatops is not delivering',
    );
    await eventually('the Slack message', async () => (await pipelineMessages(b)).broken.length === 1);

    await startAlertmanager();
    const resolve = await eventually(
      'the page resolved once Alertmanager delivers again',
      async () => (await pdEvents(b)).find((e) => e.event_action === 'resolve'),
      30_000,
    );
    expect(resolve.dedup_key).toBe(trigger?.dedup_key);
    await eventually('the back message', async () => (await pipelineMessages(b)).back.length === 1);
  });
});
