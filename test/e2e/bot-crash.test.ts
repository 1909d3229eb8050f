/**
 * `kill -9` of the bot while Alertmanager is delivering: nothing acknowledged may be lost and
 * nothing posted twice. Alertmanager retries what failed (connection refused, 5xx); what the bot
 * had stored before dying is still in its database and queue and is delivered after the restart.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, readPidFile } from '../../lab/process.js';
import { eventually, isTopLevel, type SlackMessageView } from '../support/bot.js';
import { lab } from '../support/lab.js';

const run = randomBytes(3).toString('hex');
// Five: more new incidents than that in 10 s in one channel would be a storm (one digest).
const NAMES = Array.from({ length: 5 }, (_, i) => `CrashProbe${run}x${i}`);
const alertmanager = () => `http://${lab.alertmanagerListen}`;

async function postToAlertmanager(endsAt?: string): Promise<void> {
  const now = new Date().toISOString();
  const res = await fetch(`${alertmanager()}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      NAMES.map((alertname) => ({
        labels: { alertname, severity: 'warning', service: 'qnwis', probe: run },
        annotations: { summary: `crash probe ${alertname}` },
        startsAt: now,
        ...(endsAt ? { endsAt } : {}),
        generatorURL: 'http://127.0.0.1:9090/graph?g0.expr=vector(1)',
      })),
    ),
  });
  expect(res.status).toBe(200);
}

async function messages(): Promise<SlackMessageView[]> {
  const res = await fetch(`${lab.standInUrls().slackUrl}/_local/messages?channel=qnwis-alerts`);
  return (await res.json()) as SlackMessageView[];
}

afterAll(async () => {
  // Resolve the probes and make sure the bot runs again for whatever comes next.
  await postToAlertmanager(new Date().toISOString()).catch(() => undefined);
  await lab.up();
});

describe('a bot killed with SIGKILL mid-delivery', () => {
  it('loses nothing and posts each alert once after restart', { timeout: 150_000 }, async () => {
    const pidFile = lab.daemonFiles('bot').pidFile;
    const pid = readPidFile(pidFile);
    expect(isAlive(pid)).toBe(true);

    await postToAlertmanager();
    // group_wait is 1 s in the lab: Alertmanager is delivering the groups right now.
    await new Promise((r) => setTimeout(r, 1100));
    process.kill(pid ?? 0, 'SIGKILL');
    await eventually('the bot to die', async () => !isAlive(pid), 5000);
    // Alertmanager's retries hit a closed port for a while.
    await new Promise((r) => setTimeout(r, 3000));
    await lab.up();

    // Each probe is shown exactly once at top level: its own message, or a line in the channel's
    // storm digest if other incidents arrived in the same 10 s (the lab is shared). A delivery job
    // the kill lost is re-queued by the bot's reconciliation (15 s period, 30 s grace in the lab).
    const shownIn = async (name: string) =>
      (await messages()).filter(
        (m) => isTopLevel(m) && `${m.text} ${JSON.stringify(m.blocks ?? [])}`.includes(`${name} `),
      );
    const everyProbeShown = async () => {
      for (const n of NAMES) if ((await shownIn(n)).length === 0) return false;
      return true;
    };
    await eventually('every probe alert in Slack', everyProbeShown, 90_000);
    // Give straggling retries the chance to post a duplicate, then count.
    await new Promise((r) => setTimeout(r, 4000));
    for (const name of NAMES) {
      expect(await shownIn(name), name).toHaveLength(1);
    }
  });
});
