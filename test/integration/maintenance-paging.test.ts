/**
 * The runbook's maintenance window (issue 7): inside it, a non-critical incident is posted in
 * Slack without paging, and the thread says so; if it is still open when the window ends, the
 * held page goes out then. The window is configured to be "now" (the real bot, its own stand-ins).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WEEKDAYS } from '../../src/incidents/escalation.js';
import {
  eventually,
  isTopLevel,
  notification,
  postAlertmanager,
  slackMessages,
  startTestBot,
  type TestBot,
} from '../support/bot.js';
import { threadReplies } from '../support/slack.js';

let bot: TestBot | undefined;

afterAll(async () => {
  await bot?.stop();
});

const now = new Date();
// The configuration names the Nth weekday of the month (1–4); the 29th–31st are a 5th.
const ordinal = Math.ceil(now.getUTCDate() / 7);
const pad = (n: number) => String(n).padStart(2, '0');

describe('maintenance window', () => {
  it.skipIf(ordinal > 4)(
    'posts a SEV-2 without paging inside the window, and pages it when the window ends',
    async () => {
      const start = `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}`;
      // Ends about 25 s after the test starts.
      const durationMinutes = Math.max(0.05, (now.getUTCSeconds() + 25) / 60);
      bot = await startTestBot({
        env: {
          ESCALATION_MATRIX: JSON.stringify({
            levels: { 'on-call': { slackGroups: ['S0ONCALL01'] } },
            maintenance: {
              enabled: true,
              weekday: WEEKDAYS[now.getUTCDay()],
              ordinal,
              start,
              durationMinutes,
            },
          }),
        },
      });
      const b = bot;
      const windowEnd =
        Date.UTC(
          now.getUTCFullYear(),
          now.getUTCMonth(),
          now.getUTCDate(),
          now.getUTCHours(),
          now.getUTCMinutes(),
        ) + Math.round(durationMinutes * 60_000);
      await postAlertmanager(
        b,
        notification('HighErrorRate', {
          labels: { service: 'qnwis-api', severity: 'critical' },
          startsAt: new Date().toISOString(),
        }),
      );
      const parent = await eventually('the incident message', async () =>
        (await slackMessages(b, 'qnwis-alerts')).find(
          (m) => isTopLevel(m) && m.text.includes('HighErrorRate'),
        ),
      );
      const key = (await b.db.query("SELECT key FROM incidents WHERE alertname = 'HighErrorRate'")).rows[0]
        ?.key as string;
      const thread = () => threadReplies(b.slack.url, parent);
      await eventually('the thread saying it was not paged', async () =>
        (await thread()).some((l) => /Maintenance window until \d\d:\d\d UTC: posted without paging/.test(l)),
      );
      // Not paged while the window lasts.
      expect(Date.now()).toBeLessThan(windowEnd);
      expect(b.pagerduty.store.allIncidents().find((i) => i.incidentKey === key)).toBeUndefined();

      const paged = await eventually(
        'the held page at the window end',
        async () => b.pagerduty.store.allIncidents().find((i) => i.incidentKey === key),
        40_000,
      );
      expect(Date.now()).toBeGreaterThanOrEqual(windowEnd);
      expect(paged.status).toBe('triggered');
      await eventually('the release told in the thread', async () =>
        (await thread()).some(
          (l) =>
            /maintenance window ended at .* paging On-call engineer/.test(l) &&
            l.includes('<!subteam^S0ONCALL01>'),
        ),
      );
    },
    90_000,
  );
});
