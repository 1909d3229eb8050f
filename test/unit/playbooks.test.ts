import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnosisReply } from '../../src/bot/blocks/diagnosis-reply.js';
import { checkSlackLimits } from '../../src/bot/blocks/limits.js';
import { proposedActionReply, proposedActionValue } from '../../src/bot/proposed-actions.js';
import { parseInventory } from '../../src/inventory.js';
import type { DiagnosticResult } from '../../src/ops/diagnostics/types.js';
import { playbookFor, proposeActions, verdictOf } from '../../src/ops/playbooks.js';

const inv = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

const result = (over: Partial<DiagnosticResult>): DiagnosticResult => ({
  diagnostic: 'health',
  target: 'app-01',
  status: 'ok',
  summary: 'app-01 healthy',
  durationMs: 12,
  ...over,
});

describe('playbooks follow the runbook', () => {
  it('HighErrorRate (Scenario 1): error logs and health of the affected hosts, DB connections', () => {
    const p = playbookFor({ alertname: 'HighErrorRate', hosts: ['app-02'] }, inv);
    expect(p.runbook).toContain('Scenario 1');
    expect(p.diagnostics).toEqual([
      { diagnostic: 'error-log', target: 'app-02' },
      { diagnostic: 'health', target: 'app-02' },
      { diagnostic: 'pg-connections', target: 'db-primary' },
    ]);
  });

  it('checks every app host when the alert names none', () => {
    const p = playbookFor({ alertname: 'ServiceDown', hosts: [] }, inv);
    expect(p.diagnostics.filter((d) => d.diagnostic === 'service-status').map((d) => d.target)).toEqual([
      'app-01',
      'app-02',
      'app-03',
    ]);
  });

  it.each([
    ['DatabaseDown', ['pg-replication', 'pg-connections', 'health']],
    ['QueryLatencyHigh', ['pg-active-queries', 'pg-statements', 'pg-seqscans', 'pg-connections']],
    ['LowCacheHitRate', ['redis-stats', 'health']],
    ['HighMemoryUsage', ['memory']],
  ])('%s runs %j', (alertname, diagnostics) => {
    const names = [
      ...new Set(playbookFor({ alertname, hosts: ['app-03'] }, inv).diagnostics.map((d) => d.diagnostic)),
    ];
    expect(names).toEqual(diagnostics);
  });

  it('any other alert gets health and error logs of the hosts its labels name (never unknown hosts)', () => {
    const p = playbookFor({ alertname: 'DiskFull', hosts: ['app-02', 'not-a-host'] }, inv);
    expect(p.diagnostics).toEqual([
      { diagnostic: 'health', target: 'app-02' },
      { diagnostic: 'error-log', target: 'app-02' },
    ]);
  });
});

describe('the verdict', () => {
  it('puts what is wrong first, with the host', () => {
    const v = verdictOf([
      result({ status: 'ok' }),
      result({
        diagnostic: 'pg-connections',
        target: 'db-primary',
        status: 'warn',
        summary: 'DB connections 95/100',
      }),
      result({
        diagnostic: 'error-log',
        target: 'app-02',
        status: 'error',
        summary: "412 ERROR lines, top: 'connection pool exhausted' ×300",
      }),
    ]);
    expect(v).toBe(
      "app-02: 412 ERROR lines, top: 'connection pool exhausted' ×300; db-primary: DB connections 95/100",
    );
  });

  it('says nothing was found when everything is ok, and stays short', () => {
    expect(verdictOf([result({}), result({ target: 'app-02' })])).toBe(
      'Diagnostics found nothing wrong (app-01, app-02)',
    );
    const many = Array.from({ length: 30 }, (_, i) =>
      result({ target: `app-${i}`, status: 'error', summary: 'x'.repeat(50) }),
    );
    const v = verdictOf(many);
    expect(v.length).toBeLessThanOrEqual(300);
    expect(v).toMatch(/\(\+\d+ more\)$/);
  });
});

describe('proposed fixes', () => {
  it('proposes killing the longest-running queries found (Scenario 2)', () => {
    const actions = proposeActions(
      { alertname: 'QueryLatencyHigh', hosts: [] },
      [
        result({
          diagnostic: 'pg-active-queries',
          target: 'db-primary',
          status: 'warn',
          data: {
            queries: [
              { pid: 41, ageMs: 9_000, query: 'SELECT 1' },
              { pid: 77, ageMs: 120_000, query: 'SELECT pg_sleep(3600)' },
            ],
          },
        }),
      ],
      inv,
    );
    expect(actions.map((a) => a.target)).toEqual(['77', '41']);
    expect(actions[0]).toMatchObject({ command: 'kill-query', label: 'Kill query 77' });
  });

  it('proposes restarting the hosts whose error log is bad (Scenario 1)', () => {
    const actions = proposeActions(
      { alertname: 'HighErrorRate', hosts: ['app-01', 'app-02'] },
      [
        result({ diagnostic: 'error-log', target: 'app-02', status: 'error' }),
        result({ diagnostic: 'error-log', target: 'app-01' }),
      ],
      inv,
    );
    expect(actions.map((a) => [a.command, a.target])).toEqual([['restart', 'app-02']]);
  });

  it('a click says exactly what would run and which approval it needs; forged values are refused', () => {
    const value = proposedActionValue.parse({ key: 'QNWIS-7', command: 'restart', target: 'app-02' });
    const text = proposedActionReply(value, 'U0ONCALL01', inv);
    expect(text).toContain('`sudo systemctl restart qnwis` on *app-02*');
    expect(text).toContain('1 approval by L1 or above');
    expect(text).toContain('nothing was changed');
    expect(proposedActionValue.safeParse({ key: 'QNWIS-7', command: 'rm -rf', target: 'x' }).success).toBe(
      false,
    );
  });
});

describe('the diagnosis thread reply', () => {
  it('lists every check worst first with its evidence, within Slack limits', () => {
    const reply = diagnosisReply({
      playbook: 'high-error-rate',
      runbook: 'Scenario 1: High Error Rate',
      verdict: 'app-02: 412 ERROR lines',
      durationMs: 1234,
      results: [
        result({}),
        result({
          diagnostic: 'error-log',
          target: 'app-02',
          status: 'error',
          summary: '412 ERROR lines',
          data: { patterns: [{ pattern: 'connection pool exhausted (pool size <n>)', count: 300 }] },
        }),
      ],
    });
    const text = JSON.stringify(reply.blocks);
    expect(text.indexOf('app-02')).toBeLessThan(text.indexOf('app-01'));
    expect(text).toContain('×300  connection pool exhausted');
    expect(checkSlackLimits(reply)).toEqual([]);
  });

  it('stays within limits for a huge playbook', () => {
    const results = Array.from({ length: 200 }, (_, i) =>
      result({
        target: `app-${i}`,
        status: 'error',
        summary: 'y'.repeat(900),
        data: { patterns: [{ pattern: 'z'.repeat(900), count: 1 }] },
      }),
    );
    expect(checkSlackLimits(diagnosisReply({ playbook: 'p', verdict: 'v', durationMs: 1, results }))).toEqual(
      [],
    );
  });
});
