/**
 * `/qnwis oncall` through the real bot: PagerDuty's on-calls for the configured escalation policy
 * (the PagerDuty stand-in's "QNWIS On-call", four levels) matched to the Slack stand-in's users by
 * e-mail (`users.lookupByEmail`). Then the verb's reading against a stand-in of our own: someone
 * on call with no Slack account, PagerDuty's 429 with its reset time, and PagerDuty unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebClient } from '../../src/bot/chat.js';
import { oncallReply } from '../../src/bot/commands/blocks/oncall.js';
import { collectOnCall, levelTitlesOf, slackUserDirectory } from '../../src/bot/commands/verbs/oncall.js';
import { type PagerDutyLocal, SEED, SEED_IDS, startPagerDutyLocal } from '../../src/dev/pagerduty/index.js';
import type { Seed } from '../../src/dev/pagerduty/seed.js';
import { DEFAULT_ESCALATION_MATRIX } from '../../src/incidents/escalation.js';
import { PagerDutyRest } from '../../src/ops/adapters/pagerduty-rest.js';
import { eventually, freePort, type SlackMessageView, startTestBot, type TestBot } from '../support/bot.js';

const OPS = 'C0QNWISOPS';
const ONCALL = 'U0ONCALL01';

let bot: TestBot;
let own: PagerDutyLocal;

/** The seed, plus a contractor on level 3 whose e-mail is no Slack user's. */
const SEED_WITH_CONTRACTOR: Seed = {
  ...SEED,
  users: [
    ...SEED.users,
    {
      id: 'PCONTR1',
      name: 'Casey Contractor',
      email: 'casey@contractor.example',
      jobTitle: 'Contract DBA',
      role: 'user',
      color: 'blue',
    },
  ],
  escalationPolicies: SEED.escalationPolicies.map((p) => ({
    ...p,
    rules: p.rules.map((r, i) => (i === 2 ? { ...r, userIds: [...r.userIds, 'PCONTR1'] } : r)),
  })),
};

beforeAll(async () => {
  bot = await startTestBot();
  own = await startPagerDutyLocal({
    http: { port: 0 },
    https: false,
    webhook: { secrets: ['unused-secret-0001'] },
    seed: SEED_WITH_CONTRACTOR,
    restRateLimitPerMinute: 2,
  });
}, 60_000);

afterAll(async () => {
  await own?.close();
  await bot?.stop();
});

interface Message extends SlackMessageView {
  ephemeral_user?: string;
}

async function slash(user: string, text: string) {
  const res = await fetch(`${bot.slack.url}/_local/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, channel: OPS, command: '/qnwis', text }),
  });
  expect(res.status).toBe(200);
  /** The acknowledgement the bot answered the slash command with. */
  return (await res.json()) as { status: number | null; body: { text?: string; blocks?: unknown[] } | null };
}

async function messages(): Promise<Message[]> {
  const res = await fetch(`${bot.slack.url}/_local/messages?channel=${OPS}&include_ephemeral=1`);
  return (await res.json()) as Message[];
}

const sectionLines = (m: Message) =>
  (m.blocks as { type: string; text?: { text: string } }[])
    .filter((b) => b.type === 'section')
    .flatMap((b) => b.text?.text.split('\n') ?? []);

describe('/qnwis oncall against the bot', () => {
  it('lists each level of the policy with its Slack user, in the channel', async () => {
    expect(bot.pagerduty.ids.escalationPolicy).toBe(SEED_IDS.escalationPolicy);
    await slash(ONCALL, 'oncall');
    const reply = await eventually('the on-call answer', async () =>
      (await messages()).find(
        (m) => !m.ephemeral_user && JSON.stringify(m.blocks ?? []).includes('On call now'),
      ),
    );
    expect(sectionLines(reply)).toEqual([
      'L1 On-call engineer: <@U0ONCALL01> (Omar Haddad)',
      'L2 Senior SRE: <@U0SRE00001> (Sara Nasser)',
      'L3 Dev Lead: <@U0DEVLEAD1> (Daniel Kim)',
      'L4 CTO: <@U0MANAGER1> (Mariam Al-Thani)',
    ]);
    const text = JSON.stringify(reply.blocks);
    expect(text).toContain('QNWIS On-call (`PQNWEP1`)');
    expect(text).not.toContain('No Slack match');
    // Read-only verbs are audited like the others.
    const audit = await bot.db.query(`SELECT result FROM command_audit WHERE verb = 'oncall'`);
    expect(audit.rows).toEqual([{ result: 'ok' }]);
  });

  it('an outsider is refused', async () => {
    const ack = await slash('U0OUTSIDE1', 'oncall');
    expect(ack.body?.text).toBe('This /qnwis command is not available to you');
    // Recorded once the answer is out.
    await eventually('the refusal in the audit', async () => {
      const audit = await bot.db.query(
        `SELECT result FROM command_audit WHERE verb = 'oncall' AND slack_user_id = 'U0OUTSIDE1'`,
      );
      return audit.rows[0]?.result === 'refused';
    });
  });
});

describe('the on-call reading against PagerDuty and Slack over HTTP', () => {
  const env = () => ({
    onCall: {
      pagerDuty: new PagerDutyRest({ baseUrl: own.url, token: 'own-test-token-0001' }),
      policyId: SEED_IDS.escalationPolicy,
      missing: [],
      levelTitles: levelTitlesOf(DEFAULT_ESCALATION_MATRIX),
    },
    slackUsers: slackUserDirectory(createWebClient('xoxb-oncall-test', bot.slack.apiUrl)),
  });

  it('someone on call without a Slack account is named, with the reason; then a 429 says when to retry', async () => {
    const report = await collectOnCall(env());
    expect(report.kind).toBe('ok');
    const reply = oncallReply(report, { userId: ONCALL, now: new Date(), ref: 'REF00001' });
    const text = JSON.stringify(reply.blocks);
    expect(text).toContain(
      // PagerDuty's order within a level: by name.
      'L3 Dev Lead: Casey Contractor (casey@contractor.example; no Slack user with this e-mail), <@U0DEVLEAD1> (Daniel Kim)',
    );
    expect(text).toContain('No Slack match for Casey Contractor');

    // The stand-in allows two REST calls a minute for this token: the third is PagerDuty's 429.
    expect((await collectOnCall(env())).kind).toBe('ok');
    const limited = await collectOnCall(env());
    expect(limited).toMatchObject({ kind: 'unavailable', rateLimited: true });
    const wait = limited.kind === 'unavailable' ? limited.retryAfterMs : 0;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60_000);
    expect(
      JSON.stringify(oncallReply(limited, { userId: ONCALL, now: new Date(), ref: 'REF00002' }).blocks),
    ).toMatch(/PagerDuty is rate-limiting the bot; try `\/qnwis oncall` again in \d+ s\./);
  });

  it('PagerDuty unreachable is a clear answer, not a failure', async () => {
    const port = await freePort();
    const report = await collectOnCall({
      ...env(),
      onCall: {
        ...env().onCall,
        pagerDuty: new PagerDutyRest({ baseUrl: `http://127.0.0.1:${port}`, token: 'x-12345678' }),
      },
    });
    expect(report).toMatchObject({ kind: 'unavailable', rateLimited: false });
    expect(
      JSON.stringify(oncallReply(report, { userId: ONCALL, now: new Date(), ref: 'REF00003' }).blocks),
    ).toContain('PagerDuty did not answer (PagerDuty GET /oncalls: unreachable');
  });
});
