/**
 * `/qnwis <command>` parsing into catalog commands and break-glass, and the approval, progress and
 * result messages: what an approver reads before clicking, within Slack's limits.
 */
import { describe, expect, it } from 'vitest';
import {
  approvalMessage,
  progressMessage,
  REQUEST_ACTIONS,
  requestButtonValue,
  resultMessage,
} from '../../src/bot/blocks/approval-message.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { isRequestText, parseRequestText } from '../../src/bot/commands/request-parse.js';
import type { CatalogInventory } from '../../src/ops/commands/catalog.js';
import type { CommandRequestRow } from '../../src/store/requests.js';

const inventory: CatalogInventory = {
  hosts: new Map([
    ['app-01', { roles: ['app'] }],
    ['app-02', { roles: ['app'] }],
    ['app-03', { roles: ['app'] }],
    ['db-primary', { roles: ['db-primary'] }],
    ['db-replica', { roles: ['db-replica'] }],
    ['redis-01', { roles: ['redis'] }],
  ]),
  database: { name: 'qnwis_prod', scratchDatabase: 'qnwis_test' },
  cache: { keyPattern: 'qnwis:cache:*' },
};

describe('parseRequestText', () => {
  it('recognises catalog commands and break-glass, not read-only verbs', () => {
    expect(isRequestText('restart app-02')).toBe(true);
    expect(isRequestText('break-glass "db on fire"')).toBe(true);
    expect(isRequestText('status')).toBe(false);
    expect(isRequestText('logs app-01')).toBe(false);
    expect(isRequestText('"restart" app-02')).toBe(false);
  });

  it('maps words to the catalog arguments, defaults filled in', () => {
    const r = parseRequestText('restart app-02', inventory);
    expect(r).toEqual({
      kind: 'command',
      command: { name: 'restart', args: { host: 'app-02' } },
      private: false,
    });
    const rolling = parseRequestText('rolling-restart app-03 app-01 --wait 45s', inventory);
    expect(rolling.kind === 'command' && rolling.command.args).toEqual({
      hosts: ['app-03', 'app-01'],
      waitSec: 45,
    });
    const all = parseRequestText('rolling-restart', inventory);
    expect(all.kind === 'command' && all.command.args).toEqual({
      hosts: ['app-01', 'app-02', 'app-03'],
      waitSec: 30,
    });
    const maint = parseRequestText('maintenance on "Upgrading the database" --for 2h', inventory);
    expect(maint.kind === 'command' && maint.command.args).toEqual({
      mode: 'on',
      message: 'Upgrading the database',
      forSec: 7200,
    });
    const failover = parseRequestText('failover --force', inventory);
    expect(failover.kind === 'command' && failover.command.args).toEqual({ to: 'db-replica', force: true });
    const flush = parseRequestText('flush-cache --pattern qnwis:cache:query:* --max-keys 50', inventory);
    expect(flush.kind === 'command' && flush.command.args).toEqual({
      kind: 'pattern',
      pattern: 'qnwis:cache:query:*',
      maxKeys: 50,
    });
  });

  it('refuses bad input with the command usage, never guessing', () => {
    const cases: [string, string][] = [
      ['restart app-9', 'unknown host'],
      ['restart аpp-01', 'unknown host'], // Cyrillic а
      ['restart db-primary', 'is not an app host'],
      ['restart app-01 app-02', 'too many words'],
      ['restart app-01 --now', 'unknown option'],
      ['kill-query 12x', 'not a whole number'],
      ['rolling-restart --wait', '--wait needs a value'],
      ['flush-cache other:key', 'outside the cache key space'],
      ['flush-cache --pattern qnwis:cache:*', 'spans the whole cache key space'],
      ['maintenance on "rm `x`"', 'may not contain'],
      ['reindex pg_catalog.pg_class', 'system schema'],
    ];
    for (const [text, want] of cases) {
      const r = parseRequestText(text, inventory);
      expect(r.kind, text).toBe('error');
      if (r.kind === 'error') {
        expect(r.error, text).toContain(want);
        expect(r.usage.length, text).toBeGreaterThan(0);
      }
    }
  });

  it('break-glass needs a reason and a bounded duration', () => {
    expect(parseRequestText('break-glass "primary down, DR now" --for 45m', inventory)).toEqual({
      kind: 'break-glass',
      reason: 'primary down, DR now',
      durationMs: 45 * 60_000,
    });
    expect(parseRequestText('break-glass', inventory).kind).toBe('error');
    expect(parseRequestText('break-glass "x" --for 3d', inventory).kind).toBe('error');
    expect(parseRequestText('break-glass "x" --until 3m', inventory).kind).toBe('error');
  });
});

const NOW = new Date('2026-11-28T03:12:00Z');
const HASH = `sha256:${'ab'.repeat(32)}`;

function request(over: Partial<CommandRequestRow> = {}): CommandRequestRow {
  return {
    id: 'R-7K2M9XD4',
    command: 'restart',
    args: { host: 'app-02' },
    summary: 'restart app-02',
    ruleKey: 'restart',
    risk: 'medium',
    destructive: false,
    targets: [['host', 'app-02']],
    plan: {
      command: 'restart',
      summary: 'restart app-02',
      blastRadius: '1 of 3 app hosts (app-02)',
      steps: [
        {
          id: 'record-pid',
          host: 'app-02',
          kind: 'capture',
          description: 'Record the MainPID of qnwis on app-02',
        },
        {
          id: 'restart',
          host: 'app-02',
          kind: 'remote-command',
          description: 'sudo systemctl restart qnwis on app-02',
        },
        {
          id: 'health-gate',
          host: 'app-02',
          kind: 'health-gate',
          description: 'GET /health must answer 2xx within 60 s',
        },
      ],
      facts: {},
    },
    planHash: HASH,
    requester: { id: 'U0ONCALL01', name: 'oncall', level: 'L1' },
    incidentId: null,
    channelId: 'C0QNWISOPS',
    threadTs: null,
    messageTs: null,
    progressTs: null,
    requestedAt: NOW,
    expiresAt: new Date(NOW.getTime() + 15 * 60_000),
    state: 'pending',
    stateDetail: null,
    breakGlass: false,
    approvedAt: null,
    claimedBy: null,
    startedAt: null,
    steps: [],
    cancelRequestedBy: null,
    cancelRequestedAt: null,
    finishedAt: null,
    verification: null,
    ...over,
  };
}

function actionIds(blocks: unknown[]): string[] {
  const actions = (blocks as { type: string; elements?: { action_id: string }[] }[]).find(
    (b) => b.type === 'actions',
  );
  return actions?.elements?.map((e) => e.action_id) ?? [];
}

describe('approvalMessage', () => {
  const base = {
    approvals: [],
    ruleText: '1 approval by L1 or above',
    missing: '1 more approval by L1 or above',
    approvers: 'L1 or above: <@U0SRE00001>',
    now: NOW,
  };

  it('shows the plan, risk, requester, rule, blast radius, expiry and the buttons bound to the plan hash', () => {
    const m = approvalMessage({ ...base, request: request() });
    const json = JSON.stringify(m.blocks);
    expect(json).toContain('Approval needed: restart app-02');
    expect(json).toContain('1. Record the MainPID');
    expect(json).toContain('2. sudo systemctl restart qnwis on app-02');
    expect(json).toContain('1 of 3 app hosts');
    expect(json).toContain('<@U0ONCALL01> (L1)');
    expect(json).toContain('1 approval by L1 or above');
    expect(json).toContain(`<!date^${(NOW.getTime() + 15 * 60_000) / 1000}^{time} ({ago})|03:27 UTC>`);
    expect(json).toContain('Who may approve: L1 or above: <@U0SRE00001>');
    expect(actionIds(m.blocks)).toEqual([
      REQUEST_ACTIONS.approve,
      REQUEST_ACTIONS.reject,
      REQUEST_ACTIONS.cancel,
    ]);
    const approve = (
      m.blocks.find((b) => b.type === 'actions') as { elements: { value: string; confirm?: unknown }[] }
    ).elements[0];
    expect(requestButtonValue.parse(JSON.parse(approve?.value ?? ''))).toEqual({ r: 'R-7K2M9XD4', h: HASH });
    expect(approve?.confirm).toBeUndefined();
    expect(checkSlackLimits(m)).toEqual([]);
  });

  it('asks for confirmation before approving a destructive command', () => {
    const m = approvalMessage({ ...base, request: request({ destructive: true, risk: 'critical' }) });
    const approve = (
      m.blocks.find((b) => b.type === 'actions') as { elements: { confirm?: { title: { text: string } } }[] }
    ).elements[0];
    expect(approve?.confirm?.title.text).toContain('destructive');
    expect(JSON.stringify(m.blocks)).toContain('critical');
    // A failover-sized blast radius still fits Slack's 300-character confirm text.
    const big = approvalMessage({
      ...base,
      request: request({
        destructive: true,
        summary: 'failover to db-replica (--force)',
        plan: {
          steps: [],
          blastRadius: `the whole fleet: ${'every app host restarted one at a time, '.repeat(10)}`,
        },
      }),
    });
    expect(checkSlackLimits(big)).toEqual([]);
  });

  it('drops Approve/Reject once decided, keeps Cancel while it runs, no buttons when finished', () => {
    expect(actionIds(approvalMessage({ ...base, request: request({ state: 'running' }) }).blocks)).toEqual([
      REQUEST_ACTIONS.cancel,
    ]);
    for (const state of ['succeeded', 'failed', 'rejected', 'expired', 'interrupted', 'refused'] as const) {
      expect(
        actionIds(approvalMessage({ ...base, request: request({ state, stateDetail: 'x' }) }).blocks),
        state,
      ).toEqual([]);
    }
  });

  it('stays within Slack limits with a huge plan and hostile text', () => {
    const steps = Array.from({ length: 60 }, (_, i) => ({
      id: `step-${i}`,
      kind: 'remote-command',
      description: `<!channel> *bold* ${'x'.repeat(400)}`,
    }));
    const m = approvalMessage({
      ...base,
      request: request({ plan: { steps, blastRadius: 'y'.repeat(500) }, summary: 'z'.repeat(400) }),
    });
    expect(checkSlackLimits(m)).toEqual([]);
    expect(JSON.stringify(m.blocks)).not.toContain('<!channel>');
  });
});

describe('progress and result messages', () => {
  it('progress lists every planned step with its state', () => {
    const m = progressMessage({
      request: request({ state: 'running' }),
      steps: [{ stepId: 'record-pid', status: 'done', detail: 'qnwis MainPID 4242', at: NOW.toISOString() }],
      running: 'restart',
    });
    expect(m.text).toContain('1/3 steps done');
    const body = JSON.stringify(m.blocks);
    expect(body).toContain('✓ `record-pid` qnwis MainPID 4242');
    expect(body).toContain('▸ `restart`');
    expect(body).toContain('· `health-gate`');
  });

  it('the result shows verify before/after', () => {
    const m = resultMessage({
      request: request({ state: 'succeeded', stateDetail: '3/3 steps done' }),
      verification: {
        ok: true,
        before: 'MainPID 1',
        after: 'MainPID 2; healthy',
        detail: 'new process, healthy',
      },
      durationMs: 4321,
    });
    const body = JSON.stringify(m.blocks);
    expect(body).toContain('succeeded in 4.3 s');
    expect(body).toContain('*Before:* MainPID 1');
    expect(body).toContain('*After:* MainPID 2; healthy');
  });
});
