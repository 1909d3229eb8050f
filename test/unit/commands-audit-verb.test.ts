/** `/qnwis audit`: parsing, who may run it, what help says, and the reply within Slack's limits. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { decideVerb } from '../../src/bot/commands/access.js';
import { auditReply } from '../../src/bot/commands/blocks/audit.js';
import type { CommandReply, ReplyMeta } from '../../src/bot/commands/blocks/common.js';
import { helpReply } from '../../src/bot/commands/blocks/messages.js';
import type { CommandEnv } from '../../src/bot/commands/env.js';
import {
  type ParseResult,
  parseContextFromInventory,
  parseQnwisCommand,
  slackUserId,
} from '../../src/bot/commands/parse.js';
import { auditArgs } from '../../src/bot/commands/run.js';
import { AUDIT_LIST_LIMIT, VERB_SPECS } from '../../src/bot/commands/usage.js';
import { listAudit } from '../../src/bot/commands/verbs/audit.js';
import { LAB_USER_ROLES, type RolePolicy } from '../../src/bot/roles.js';
import { parseInventory } from '../../src/inventory.js';
import type { AuditTrailRow } from '../../src/store/audit-trail.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const ctx = parseContextFromInventory(inventory);
const NOW = new Date('2026-11-27T22:00:00.000Z');
const META: ReplyMeta = { userId: 'U0SRE00001', now: NOW, ref: '7K2M9XD4' };

function command(text: string) {
  const r = parseQnwisCommand(text, ctx);
  if (!r.ok) throw new Error(`expected "${text}" to parse, got: ${r.error}`);
  return r.invocation.command;
}
function failure(text: string): Extract<ParseResult, { ok: false }> {
  const r = parseQnwisCommand(text, ctx);
  if (r.ok) throw new Error(`expected "${text}" to fail, got ${JSON.stringify(r.invocation)}`);
  return r;
}

describe('parsing /qnwis audit', () => {
  it('no filters, a person (mention, id) and a window', () => {
    expect(command('audit')).toEqual({ verb: 'audit', userId: null, sinceSec: null });
    expect(command('audit --user <@U0ONCALL01|oncall> --since 24h')).toEqual({
      verb: 'audit',
      userId: 'U0ONCALL01',
      sinceSec: 86_400,
    });
    expect(command('AUDIT --since=30m --user=U0SRE00001')).toEqual({
      verb: 'audit',
      userId: 'U0SRE00001',
      sinceSec: 1800,
    });
    expect(command('audit --user @U0MANAGER1')).toMatchObject({ userId: 'U0MANAGER1' });
    expect(command('audit --user <@W0GRIDUSER1>')).toMatchObject({ userId: 'W0GRIDUSER1' });
    const r = parseQnwisCommand('audit --since 2d --private', ctx);
    expect(r).toMatchObject({ ok: true, invocation: { private: true, command: { sinceSec: 172_800 } } });
  });

  it('refuses what is not a Slack user, a bad window, and anything extra, with the audit usage', () => {
    const plain = failure('audit --user @oncall');
    expect(plain).toMatchObject({ verb: 'audit', usage: VERB_SPECS.audit.usage });
    expect(plain.error).toBe(
      '--user "@oncall" is not a Slack user: mention them (@name) or give their id (U…)',
    );
    expect(failure('audit --user "<@U0ONCALL01> x"').error).toMatch(/is not a Slack user/);
    expect(failure('audit --since yesterday').error).toBe(
      '--since "yesterday" is not a duration like 30m, 2h or 1d',
    );
    expect(failure('audit --since 30s').error).toMatch(/--since must be between 1m and/);
    expect(failure('audit --since 400d').error).toMatch(/--since must be between/);
    expect(failure('audit --user').error).toBe('--user needs a value');
    expect(failure('audit --since 1h --since 2h').error).toBe('--since is given more than once');
    expect(failure('audit everything').error).toBe('unexpected argument "everything"');
    expect(failure('audit --verify').error).toBe('unknown option "--verify"');
  });

  it('slackUserId accepts only ids and mentions Slack sends', () => {
    expect(slackUserId('<@U0ONCALL01|on call>')).toBe('U0ONCALL01');
    expect(slackUserId('U0ONCALL01')).toBe('U0ONCALL01');
    for (const bad of ['oncall', '@oncall', '<@U0ONCALL01', 'u0oncall01', '<!channel>', 'U0ONCALL01 ', ''])
      expect(slackUserId(bad), bad).toBeNull();
  });

  it('the audit row of the invocation keeps the filters', () => {
    expect(auditArgs(command('audit --user U0ONCALL01 --since 1h'))).toEqual({
      userId: 'U0ONCALL01',
      sinceSec: 3600,
    });
  });
});

describe('who may run it', () => {
  const policy = (over: Partial<RolePolicy> = {}): RolePolicy => ({
    users: { ...LAB_USER_ROLES },
    groups: {},
    readMinimum: 'L1',
    ...over,
  });

  it('L2 and above; L1 and viewers are told L2 is needed; other verbs keep the read minimum', () => {
    const p = policy();
    for (const role of ['L2', 'L3', 'L4'] as const)
      expect(decideVerb(p, 'audit', role)).toEqual({ allowed: true });
    expect(decideVerb(p, 'audit', 'L1')).toEqual({ allowed: false, needed: 'L2', role: 'L1' });
    expect(decideVerb(p, 'audit', 'viewer')).toEqual({ allowed: false, needed: 'L2', role: 'viewer' });
    expect(decideVerb(p, 'audit', null)).toEqual({ allowed: false, needed: 'L2', role: null });
    expect(decideVerb(p, 'status', 'L1')).toEqual({ allowed: true });
    expect(decideVerb(p, 'help', null)).toEqual({ allowed: true });
    expect(decideVerb(p, null, null)).toEqual({ allowed: false, needed: 'L1', role: null });
  });

  it('a read minimum above L2 applies to audit too', () => {
    const p = policy({ readMinimum: 'L3' });
    expect(decideVerb(p, 'audit', 'L2')).toEqual({ allowed: false, needed: 'L3', role: 'L2' });
    expect(decideVerb(p, 'audit', 'L3')).toEqual({ allowed: true });
    expect(decideVerb(policy({ readMinimum: 'viewer' }), 'audit', 'viewer')).toMatchObject({ needed: 'L2' });
  });

  it('help says who may use it', () => {
    expect(VERB_SPECS.audit.minimumRole).toBe('L2');
    expect(JSON.stringify(helpReply('audit', META).blocks)).toContain('for L2 senior SRE and above');
    expect(JSON.stringify(helpReply(null, META).blocks)).toContain(
      '/qnwis audit [--user @PERSON|U…] [--since 24h]',
    );
  });
});

const row = (id: number, over: Partial<AuditTrailRow> = {}): AuditTrailRow => ({
  id,
  kind: 'approval',
  at: new Date(NOW.getTime() - id * 60_000),
  actorId: 'U0SRE00001',
  actorName: 'sre',
  actorRole: 'L2',
  requestId: 'R-7K2M9XD4',
  incidentId: 42,
  summary: 'approved restart app-02',
  data: {},
  prevHash: null,
  hash: 'f'.repeat(64),
  ...over,
});

function ok(reply: CommandReply): CommandReply {
  expect(checkSlackLimits(reply)).toEqual([]);
  expect(JSON.stringify(reply)).not.toContain('<!channel>');
  return reply;
}

describe('the reply', () => {
  it('who, what, when and the request (or the command reference), newest first', () => {
    const reply = ok(
      auditReply(
        {
          rows: [
            row(1),
            row(2, {
              kind: 'step',
              actorId: null,
              actorName: null,
              actorRole: null,
              summary: 'app-02 restarted',
            }),
            row(3, {
              kind: 'read-only',
              requestId: null,
              summary: '/qnwis db lag',
              data: { ref: 'Q7K2M9XD' },
            }),
          ],
          more: false,
          userId: null,
          since: null,
          sinceSec: null,
        },
        META,
      ),
    );
    const text = JSON.stringify(reply.blocks);
    expect(text).toContain(
      ':white_check_mark: 2026-11-27 21:59:00 UTC · <@U0SRE00001> (L2) · *approval* · `R-7K2M9XD4`\\n      approved restart app-02',
    );
    expect(text).toContain('2026-11-27 21:58:00 UTC · the bot · *step* · `R-7K2M9XD4`');
    expect(text).toContain('*read-only* · ref `Q7K2M9XD`\\n      /qnwis db lag');
    expect(text).toContain('everyone · any time · newest first');
    expect(text).toContain('npm run audit -- verify');
    expect(reply.text).toBe('Audit trail: 3 entries, newest approval at 2026-11-27 21:59:00 UTC');
  });

  it('hostile text from the trail is escaped; a non-Slack actor id is never a mention', () => {
    const NASTY = '<!channel> <@U0ONCALL01> ``` *bold* \u0000 \u202e';
    const reply = ok(
      auditReply(
        {
          rows: [row(1, { actorId: '<!channel>', actorName: NASTY, summary: NASTY, requestId: NASTY })],
          more: false,
          userId: 'U0SRE00001',
          since: new Date(NOW.getTime() - 86_400_000),
          sinceSec: 86_400,
        },
        META,
      ),
    );
    const text = JSON.stringify(reply.blocks);
    expect(text).not.toContain('<@U0ONCALL01>');
    expect(text).toContain('by <@U0SRE00001> · last 1d (since 2026-11-26 22:00:00 UTC)');
  });

  it(`${AUDIT_LIST_LIMIT} long entries stay within Slack's limits and say when more exist`, () => {
    const rows = Array.from({ length: AUDIT_LIST_LIMIT }, (_, i) =>
      row(i + 1, { summary: `"${'ü<>&'.repeat(200)}"`, requestId: 'R-'.padEnd(64, 'X') }),
    );
    const reply = ok(auditReply({ rows, more: true, userId: null, since: null, sinceSec: null }, META));
    expect(JSON.stringify(reply.blocks)).toContain('newest shown; narrow with `--user` or `--since`');
    expect(reply.text).toMatch(/^Audit trail: \d+\+ entries/);
  });

  it('nothing matching says so', () => {
    const reply = ok(auditReply({ rows: [], more: false, userId: null, since: null, sinceSec: null }, META));
    expect(JSON.stringify(reply.blocks)).toContain('No audit entries match.');
  });
});

describe('listAudit', () => {
  it('asks the trail for one more than it shows, with the person and the window', async () => {
    const asked: unknown[] = [];
    const env = {
      now: () => NOW,
      auditTrail: {
        list: async (opts: unknown) => {
          asked.push(opts);
          return Array.from({ length: AUDIT_LIST_LIMIT + 1 }, (_, i) => row(i + 1));
        },
      },
    } as unknown as CommandEnv;
    const listing = await listAudit({ verb: 'audit', userId: 'U0ONCALL01', sinceSec: 3600 }, env);
    expect(asked).toEqual([
      { userId: 'U0ONCALL01', since: new Date('2026-11-27T21:00:00.000Z'), limit: AUDIT_LIST_LIMIT + 1 },
    ]);
    expect(listing.rows).toHaveLength(AUDIT_LIST_LIMIT);
    expect(listing.more).toBe(true);
    await expect(
      listAudit({ verb: 'audit', userId: null, sinceSec: null }, { now: () => NOW } as unknown as CommandEnv),
    ).rejects.toThrow('The audit trail is not available in this bot.');
  });
});
