import { describe, expect, it } from 'vitest';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import type { ReplyMeta } from '../../src/bot/commands/blocks/common.js';
import { oncallReply } from '../../src/bot/commands/blocks/oncall.js';
import {
  collectOnCall,
  levelTitlesOf,
  type OnCallReport,
  type OnCallSource,
  onCallSourceOf,
  type SlackUserDirectory,
} from '../../src/bot/commands/verbs/oncall.js';
import { PagerDutyRejectedError, PagerDutyUnavailableError, SlackRejectedError } from '../../src/errors.js';
import { DEFAULT_ESCALATION_MATRIX, escalationMatrixFrom } from '../../src/incidents/escalation.js';
import type { PagerDutyOnCall } from '../../src/ops/adapters/pagerduty-rest.js';

const meta: ReplyMeta = { userId: 'U0ONCALL01', now: new Date('2026-11-27T21:00:00Z'), ref: 'REF12345' };
const POLICY = { id: 'PQNWEP1', name: 'QNWIS On-call' };

function oncall(level: number, id: string, name: string, email: string | null): PagerDutyOnCall {
  return { level, policy: POLICY, user: { id, name, email }, start: null, end: null };
}

const SEEDED: PagerDutyOnCall[] = [
  oncall(1, 'PL1ONCL', 'Lab On-call Engineer', 'oncall@qnwis.lab'),
  oncall(2, 'PL2SRE0', 'Lab Senior SRE', 'sre@qnwis.lab'),
  oncall(3, 'PL3DEVL', 'Lab Development Lead', 'devlead@qnwis.lab'),
  oncall(4, 'PL4MGMT', 'Lab Operations Manager', 'manager@qnwis.lab'),
];

const SLACK: Record<string, { id: string; name: string }> = {
  'oncall@qnwis.lab': { id: 'U0ONCALL01', name: 'Omar Haddad' },
  'sre@qnwis.lab': { id: 'U0SRE00001', name: 'Sara Nasser' },
  'devlead@qnwis.lab': { id: 'U0DEVLEAD1', name: 'Daniel Kim' },
  'manager@qnwis.lab': { id: 'U0MANAGER1', name: 'Mariam Al-Thani' },
};

function directory(lookups: string[] = [], fail: Record<string, Error> = {}): SlackUserDirectory {
  return {
    async byEmail(email) {
      lookups.push(email);
      const err = fail[email];
      if (err) throw err;
      return SLACK[email] ?? null;
    },
  };
}

function source(calls: () => Promise<PagerDutyOnCall[]>, over: Partial<OnCallSource> = {}): OnCallSource {
  return {
    pagerDuty: { onCalls: calls },
    policyId: 'PQNWEP1',
    missing: [],
    levelTitles: levelTitlesOf(DEFAULT_ESCALATION_MATRIX),
    ...over,
  };
}

const sectionsText = (reply: { blocks: unknown[] }) => JSON.stringify(reply.blocks);

describe('collectOnCall + oncallReply', () => {
  it('one line per level with the matching Slack user, in level order', async () => {
    const report = await collectOnCall({
      onCall: source(async () => [...SEEDED].reverse()),
      slackUsers: directory(),
    });
    const reply = oncallReply(report, meta);
    expect(checkSlackLimits(reply)).toEqual([]);
    const section = (reply.blocks[1] as { text: { text: string } }).text.text;
    expect(section.split('\n')).toEqual([
      'L1 On-call engineer: <@U0ONCALL01> (Omar Haddad)',
      'L2 Senior SRE: <@U0SRE00001> (Sara Nasser)',
      'L3 Dev Lead: <@U0DEVLEAD1> (Daniel Kim)',
      'L4 CTO: <@U0MANAGER1> (Mariam Al-Thani)',
    ]);
    expect(sectionsText(reply)).toContain('QNWIS On-call (`PQNWEP1`)');
    expect(sectionsText(reply)).not.toContain('No Slack match');
    expect(reply.text).toBe('On call: L1 On-call engineer: Omar Haddad');
  });

  it('says who has no Slack match, and why a lookup failed; one lookup per e-mail', async () => {
    const lookups: string[] = [];
    const report = await collectOnCall({
      onCall: source(async () => [
        ...SEEDED,
        oncall(3, 'PNEWBIE', 'New <Contractor>', 'contractor@elsewhere.example'),
        oncall(4, 'PL2SRE0', 'Lab Senior SRE', 'SRE@qnwis.lab'),
        oncall(4, 'PNOMAIL', 'Hidden Email', null),
      ]),
      slackUsers: directory(lookups, {
        'manager@qnwis.lab': new SlackRejectedError('users.lookupByEmail', 'ratelimited'),
      }),
    });
    expect(lookups.sort()).toEqual([
      'contractor@elsewhere.example',
      'devlead@qnwis.lab',
      'manager@qnwis.lab',
      'oncall@qnwis.lab',
      'sre@qnwis.lab',
    ]);
    const reply = oncallReply(report, meta);
    expect(checkSlackLimits(reply)).toEqual([]);
    const text = sectionsText(reply);
    expect(text).toContain(
      'L3 Dev Lead: <@U0DEVLEAD1> (Daniel Kim), New &lt;Contractor&gt; (contractor@elsewhere.example; no Slack user with this e-mail)',
    );
    expect(text).toContain('Lab Operations Manager (manager@qnwis.lab; Slack lookup failed: ratelimited)');
    expect(text).toContain(
      '<@U0SRE00001> (Sara Nasser), Hidden Email (PagerDuty gave no e-mail to match in Slack)',
    );
    expect(text).toContain('No Slack match for New &lt;Contractor&gt;, Lab Operations Manager, Hidden Email');
  });

  it('not configured: names the settings to set', async () => {
    const none = await collectOnCall({});
    expect(none).toEqual({
      kind: 'not-configured',
      missing: ['PAGERDUTY_API_TOKEN', 'PAGERDUTY_ESCALATION_POLICY_ID'],
    });
    const src = onCallSourceOf(
      {
        PAGERDUTY_API_URL: 'https://api.pagerduty.com',
        PAGERDUTY_API_TOKEN: 'tok-12345678',
        PAGERDUTY_ESCALATION_POLICY_ID: undefined,
      },
      DEFAULT_ESCALATION_MATRIX,
    );
    const report = await collectOnCall({ onCall: src, slackUsers: directory() });
    expect(report).toEqual({ kind: 'not-configured', missing: ['PAGERDUTY_ESCALATION_POLICY_ID'] });
    const reply = oncallReply(report, meta);
    expect(sectionsText(reply)).toContain('set `PAGERDUTY_ESCALATION_POLICY_ID` in the bot');
    expect(checkSlackLimits(reply)).toEqual([]);
  });

  it('rate-limited, unreachable and refused each get their own clear message', async () => {
    const limited = await collectOnCall({
      onCall: source(async () => {
        throw new PagerDutyUnavailableError(
          'PagerDuty GET /oncalls: rate limited (429), retry in 12 s',
          11_200,
          { rateLimited: true },
        );
      }),
    });
    expect(limited).toMatchObject({ kind: 'unavailable', rateLimited: true, retryAfterMs: 11_200 });
    expect(sectionsText(oncallReply(limited, meta))).toContain(
      'PagerDuty is rate-limiting the bot; try `/qnwis oncall` again in 12 s.',
    );
    const down = await collectOnCall({
      onCall: source(async () => {
        throw new PagerDutyUnavailableError('PagerDuty GET /oncalls: unreachable (fetch failed)', 2000);
      }),
    });
    expect(down).toMatchObject({ kind: 'unavailable', rateLimited: false });
    expect(sectionsText(oncallReply(down, meta))).toContain(
      'PagerDuty did not answer (PagerDuty GET /oncalls: unreachable (fetch failed)); try again in 2 s',
    );
    const refused = await collectOnCall({
      onCall: source(async () => {
        throw new PagerDutyRejectedError('PagerDuty GET /oncalls refused (401): Unauthorized');
      }),
    });
    const text = sectionsText(oncallReply(refused, meta));
    expect(text).toContain('PagerDuty refused the on-call query for escalation policy `PQNWEP1`');
    expect(text).toContain('Check `PAGERDUTY_API_TOKEN`');
  });

  it('other errors are not swallowed', async () => {
    await expect(
      collectOnCall({
        onCall: source(async () => {
          throw new TypeError('bug');
        }),
      }),
    ).rejects.toThrow('bug');
  });

  it('nobody on call for the policy says to check the policy id', async () => {
    const report = await collectOnCall({ onCall: source(async () => []), slackUsers: directory() });
    expect(report).toEqual({ kind: 'ok', policy: { id: 'PQNWEP1', name: null }, levels: [] });
    expect(sectionsText(oncallReply(report, meta))).toContain(
      'Nobody is on call for escalation policy `PQNWEP1`',
    );
  });

  it('level titles follow the configured matrix; a level it does not name gets the runbook path', async () => {
    const matrix = escalationMatrixFrom({ levels: { 'dev-lead': { title: 'Development team' } } });
    const report = await collectOnCall({
      onCall: source(async () => [...SEEDED, oncall(6, 'PL6', 'Six', null)], {
        levelTitles: levelTitlesOf(matrix),
      }),
      slackUsers: directory(),
    });
    expect(report.kind === 'ok' && report.levels.map((l) => l.title)).toEqual([
      'L1 On-call engineer',
      'L2 Senior SRE',
      'L3 Development team',
      'L4 CTO',
      'L6',
    ]);
  });

  it('stays inside Slack limits with many levels and people', () => {
    const report: OnCallReport = {
      kind: 'ok',
      policy: { id: 'PQNWEP1', name: 'x'.repeat(500) },
      levels: Array.from({ length: 40 }, (_, i) => ({
        level: i + 1,
        title: `L${i + 1} ${'t'.repeat(200)}`,
        people: Array.from({ length: 5 }, (_, j) => ({
          pagerDutyId: `P${i}${j}`,
          name: `person ${j} ${'n'.repeat(200)}`,
          email: `p${j}@x.test`,
          slack: { kind: 'no-match' as const },
        })),
      })),
    };
    expect(checkSlackLimits(oncallReply(report, meta))).toEqual([]);
  });
});
