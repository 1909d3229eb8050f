/**
 * When an incident opens, its playbook runs the runbook's diagnostics against the real lab hosts;
 * the verdict lands in the incident message, the evidence in the thread, and a chart of the
 * alerting metric is uploaded into the thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Faults } from '../../lab/faults.js';
import {
  eventually,
  isTopLevel,
  notification,
  postAlertmanager,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { lab } from '../support/lab.js';

let bot: TestBot;
const faults = new Faults(lab);

beforeAll(async () => {
  bot = await startTestBot({ fleet: true });
});
afterAll(async () => {
  await faults.heal('error-rate');
  await bot?.stop();
});

async function appPid(name: string): Promise<string> {
  const host = lab.inventory.hosts.get(name);
  if (!host) throw new Error(`no host ${name}`);
  const { stdout } = await lab.hostExec(host, ['systemctl', 'show', '-p', 'MainPID', '--value', 'qnwis']);
  return stdout.trim();
}

const HIGH_ERROR_RATE_EXPR =
  'sum by (host, instance, job) (rate(qnwis_errors_total{job="qnwis"}[20s])) > 0.05';
const generatorURL = `http://127.0.0.1:9090/graph?g0.expr=${encodeURIComponent(HIGH_ERROR_RATE_EXPR)}&g0.tab=1`;

describe('the HighErrorRate playbook (runbook Scenario 1)', () => {
  it('finds the injected errors on the host, says so in the message, and charts the metric', {
    timeout: 60_000,
  }, async () => {
    await faults.inject('error-rate', 'app-01');
    // Let the app fail some queries so the error log has evidence.
    await new Promise((r) => setTimeout(r, 2500));

    const body = notification('HighErrorRate', {
      labels: { severity: 'critical', host: 'app-01', service: 'qnwis' },
    });
    const first = body.alerts[0];
    if (first) first.generatorURL = generatorURL;
    expect((await postAlertmanager(bot, body)).status).toBe(200);

    const top = await eventually(
      'the incident message with a diagnosis',
      async () =>
        (await slackMessages(bot, 'qnwis-alerts')).find(
          (m) =>
            isTopLevel(m) &&
            m.text.includes('HighErrorRate') &&
            JSON.stringify(m.blocks).includes('Diagnosis:'),
        ),
      30_000,
    );
    const blocks = JSON.stringify(top.blocks);
    expect(blocks).toMatch(/app-01: \d+ ERROR lines/);
    // The proposed fix: restart the host whose error log is bad.
    expect(blocks).toContain('Restart qnwis on app-01');

    const thread = await eventually(
      'the diagnostics reply and the chart in the thread',
      async () => {
        const replies = (await slackMessages(bot, 'qnwis-alerts')).filter(
          (m) => m.thread_ts === top.ts && m.ts !== top.ts,
        );
        const diag = replies.find((m) => m.text.startsWith('Diagnostics:'));
        const chart = replies.find((m) =>
          JSON.stringify((m as { files?: unknown[] }).files ?? []).includes('.png'),
        );
        return diag && chart ? { diag, chart } : null;
      },
      30_000,
    );
    const evidence = JSON.stringify(thread.diag.blocks);
    expect(evidence).toMatch(/error-log/);
    // A real pattern from the app's error log, counted.
    expect(evidence).toMatch(/×\d+ /);
    expect(evidence).toContain('pg-connections');

    // The proposed fix, clicked by the on-call: a request with its plan in the incident's thread;
    // nothing runs before someone else approves it.
    const pidBefore = await appPid('app-01');
    const click = await fetch(`${bot.slack.url}/_local/action`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        user: 'oncall',
        channel: 'qnwis-alerts',
        ts: top.ts,
        action_id: 'incident.propose.0',
      }),
    });
    expect(((await click.json()) as { status: number }).status).toBe(200);
    const ephemeral = await eventually('the answer to the click', async () => {
      const res = await fetch(`${bot.slack.url}/_local/messages?channel=qnwis-alerts&include_ephemeral=1`);
      return ((await res.json()) as { text: string; ephemeral_user?: string }[]).find(
        (m) => m.ephemeral_user && m.text.includes('Requested R-'),
      );
    });
    expect(ephemeral.text).toContain('needs 1 approval by L1 or above');
    const approval = await eventually('the approval message in the thread', async () => {
      const res = await fetch(`${bot.slack.url}/_local/messages?channel=qnwis-alerts`);
      return ((await res.json()) as { text: string; thread_ts: string | null; blocks?: unknown[] }[]).find(
        (m) =>
          m.thread_ts === top.ts &&
          JSON.stringify(m.blocks ?? []).includes('sudo systemctl restart qnwis on app-01'),
      );
    });
    expect(JSON.stringify(approval.blocks)).toContain('Waiting for approval');
    expect(await appPid('app-01')).toBe(pidBefore);
  });
});
