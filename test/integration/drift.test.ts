/**
 * Drift (issue 7 acceptance): stop the bot; meanwhile the fault is resolved (the alert ends in the
 * lab's real Alertmanager) and the on-call acknowledges in PagerDuty, whose webhooks are lost; start
 * the bot → within a reconcile period Slack shows both, each with a note saying it was repaired.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  isTopLevel,
  postAlertmanager,
  type SlackMessageView,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { lab } from '../support/lab.js';
import { acknowledgeInPagerDuty } from '../support/pagerduty.js';
import { threadReplies } from '../support/slack.js';

const run = randomBytes(3).toString('hex');
const ALERT = `DriftProbe${run}`;
const LABELS = { alertname: ALERT, severity: 'critical', service: 'qnwis', probe: run };
const alertmanager = () => `http://${lab.alertmanagerListen}`;

let bot: TestBot;

async function toAlertmanager(startsAt: string, endsAt?: string): Promise<void> {
  const res = await fetch(`${alertmanager()}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      {
        labels: LABELS,
        annotations: { summary: `drift probe ${run}` },
        startsAt,
        ...(endsAt ? { endsAt } : {}),
        generatorURL: 'http://127.0.0.1:9090/graph?g0.expr=vector(1)',
      },
    ]),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  bot = await startTestBot({ env: { RECONCILE_INTERVAL_SEC: '2' } });
}, 60_000);

afterAll(async () => {
  await toAlertmanager(new Date(Date.now() - 60_000).toISOString(), new Date().toISOString()).catch(
    () => undefined,
  );
  await bot?.stop();
});

describe('drift between the bot, PagerDuty and Alertmanager', () => {
  it('repairs an acknowledgement and a resolution it missed while down, with a note each', async () => {
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    await toAlertmanager(startsAt);
    // The alert as Alertmanager holds it (its fingerprint), delivered to this bot as a webhook.
    const held = await eventually('the probe in Alertmanager', async () => {
      const res = await fetch(`${alertmanager()}/api/v2/alerts?filter=probe%3D%22${run}%22`);
      const list = (await res.json()) as { fingerprint: string; startsAt: string }[];
      return list[0];
    });
    const alert = {
      status: 'firing',
      labels: LABELS,
      annotations: { summary: `drift probe ${run}` },
      startsAt: held.startsAt,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://127.0.0.1:9090/graph?g0.expr=vector(1)',
      fingerprint: held.fingerprint,
    };
    expect(
      (
        await postAlertmanager(bot, {
          receiver: 'qnwis-chatops',
          status: 'firing',
          alerts: [alert],
          groupLabels: { alertname: ALERT },
          commonLabels: LABELS,
          commonAnnotations: {},
          externalURL: alertmanager(),
          version: '4',
          groupKey: `{}:{alertname="${ALERT}"}`,
          truncatedAlerts: 0,
        })
      ).status,
    ).toBe(200);
    const parent: SlackMessageView = await eventually(
      'the incident message',
      async () =>
        (await slackMessages(bot, 'qnwis-alerts')).find((m) => isTopLevel(m) && m.text.includes(ALERT)),
      20_000,
    );
    const key = (await bot.db.query('SELECT key FROM incidents WHERE alertname = $1', [ALERT])).rows[0]
      ?.key as string;
    const paged = await eventually('the page', async () =>
      bot.pagerduty.store.allIncidents().find((i) => i.incidentKey === key),
    );
    // The PagerDuty link arrives by webhook; after that the bot is up to date.
    await eventually('the PagerDuty link', async () => {
      const r = await bot.db.query('SELECT pd_incident_id FROM incidents WHERE key = $1', [key]);
      return r.rows[0]?.pd_incident_id === paged.id;
    });

    await bot.restart(async () => {
      // While the bot is down: PagerDuty's webhooks go nowhere and are dropped…
      const url = bot.pagerduty.webhooks.status().url;
      bot.pagerduty.webhooks.updateSubscription({ url: 'http://127.0.0.1:9/webhooks/pagerduty' });
      await acknowledgeInPagerDuty(bot.pagerduty.url, paged.id);
      await bot.pagerduty.webhooks.whenIdle();
      bot.pagerduty.webhooks.updateSubscription({ url });
      // …and the fault is over: the alert ends in Alertmanager (its resolved notification would go
      // to the lab's bot, not this one: this one never hears of it).
      await toAlertmanager(held.startsAt, new Date().toISOString());
      await eventually('Alertmanager no longer holding the probe as active', async () => {
        const res = await fetch(`${alertmanager()}/api/v2/alerts?active=true&filter=probe%3D%22${run}%22`);
        return ((await res.json()) as unknown[]).length === 0;
      });
    });
    expect(paged.status).toBe('acknowledged');

    const thread = () => threadReplies(bot.slack.url, parent);
    const lines = await eventually(
      'both repairs told in the thread',
      async () => {
        const t = await thread();
        return t.some((l) =>
          /PagerDuty shows it acknowledged by Lab On-call Engineer .*reconciliation/.test(l),
        ) &&
          t.some((l) =>
            /Alertmanager no longer reports this alert: marked resolved by reconciliation/.test(l),
          )
          ? t
          : null;
      },
      20_000,
    );
    expect(lines.some((l) => /Acknowledged in PagerDuty by Lab On-call Engineer/.test(l))).toBe(true);
    const row = await bot.db.query('SELECT status, acknowledged_by FROM incidents WHERE key = $1', [key]);
    expect(row.rows[0]).toEqual({ status: 'resolved', acknowledged_by: 'Lab On-call Engineer' });
    await eventually('the message shows it resolved', async () =>
      (await slackMessages(bot, parent.channel)).find((m) => m.ts === parent.ts)?.text.includes('RESOLVED'),
    );
    // And PagerDuty hears of the resolution.
    await eventually('resolved in PagerDuty', async () => paged.status === 'resolved');
  }, 90_000);
});
