import type { KnownBlock } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { blocksSize, checkSlackLimits } from '../../src/bot/blocks/limits.js';
import {
  type CommandReply,
  codeBlocks,
  fitReply,
  type ReplyMeta,
  table,
} from '../../src/bot/commands/blocks/common.js';
import { diagnosticsReply, evidenceLines } from '../../src/bot/commands/blocks/diagnostics.js';
import {
  incidentNotFoundReply,
  incidentReply,
  incidentsReply,
} from '../../src/bot/commands/blocks/incidents.js';
import { condenseLogLine, logsReply } from '../../src/bot/commands/blocks/logs.js';
import { failureReply, helpReply, refusalReply, usageReply } from '../../src/bot/commands/blocks/messages.js';
import { redisKeysReply } from '../../src/bot/commands/blocks/redis.js';
import { securityReply, topValues } from '../../src/bot/commands/blocks/security.js';
import { statusReply } from '../../src/bot/commands/blocks/status.js';
import type { IncidentWithAlerts } from '../../src/bot/commands/incident-queries.js';
import { VERBS } from '../../src/bot/commands/usage.js';
import type { LogsReport } from '../../src/bot/commands/verbs/logs.js';
import type { RedisKeysReport } from '../../src/bot/commands/verbs/redis.js';
import type { SecurityReport } from '../../src/bot/commands/verbs/security.js';
import type { StatusReport } from '../../src/bot/commands/verbs/status.js';
import type { DiagnosticResult, DiagnosticStatus } from '../../src/ops/diagnostics/types.js';
import type { IncidentRow } from '../../src/store/incidents.js';

const NOW = new Date('2026-11-27T22:00:00.000Z');
const META: ReplyMeta = { userId: 'U0ONCALL01', now: NOW, ref: '7K2M9XD4' };
const NASTY = '<!channel> <@U0ONCALL01> &amp; ``` `code` *bold* \u0007\u0000 \u202e اختبار 😀 ';

function ok(reply: CommandReply): CommandReply {
  expect(checkSlackLimits(reply)).toEqual([]);
  // Escaped: no raw mention or broadcast can form anywhere.
  const json = JSON.stringify(reply);
  expect(json).not.toContain('<!channel>');
  expect(reply.text).not.toContain('<');
  return reply;
}

function allText(blocks: readonly KnownBlock[]): string {
  return JSON.stringify(blocks);
}

const result = (
  over: Partial<DiagnosticResult> & { diagnostic: string; target: string },
): DiagnosticResult => ({
  status: 'ok',
  summary: `${over.target}: fine`,
  durationMs: 12,
  ...over,
});

function row(id: number, over: Partial<IncidentRow> = {}): IncidentRow {
  return {
    id,
    key: `QNWIS-${id}`,
    groupKey: `{}:{alertname="HighErrorRate"}`,
    alertname: 'HighErrorRate',
    severity: 'SEV-2',
    status: 'firing',
    channel: 'qnwis-alerts',
    commonLabels: {},
    externalUrl: 'http://127.0.0.1:9093',
    slackChannelId: null,
    slackTs: null,
    slackPermalink: null,
    slackRenderedHash: null,
    digestId: null,
    threadCursor: 0,
    pdDedupKey: null,
    pdStatus: null,
    pdIncidentId: null,
    pdHtmlUrl: null,
    acknowledgedBy: null,
    acknowledgedAt: null,
    openedAt: new Date('2026-11-27T21:50:00.000Z'),
    resolvedAt: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  } as IncidentRow;
}

function incident(id: number, over: Partial<IncidentRow> = {}): IncidentWithAlerts {
  return {
    row: row(id, over),
    alerts: [
      {
        fingerprint: `f${id}`,
        status: 'firing',
        labels: { alertname: 'HighErrorRate', host: 'app-01' },
        annotations: { summary: 'Error rate above 5% on app-01', description: 'see Scenario 1' },
        startsAt: '2026-11-27T21:50:00.000Z',
        endsAt: null,
        generatorURL: '',
      },
    ],
  };
}

function status(over: Partial<StatusReport> = {}): StatusReport {
  const app = (host: string, s: DiagnosticStatus = 'ok') => ({
    host,
    service: result({
      diagnostic: 'service-status',
      target: host,
      status: s,
      summary: `${host}: qnwis ${s === 'ok' ? 'active' : 'inactive'}`,
    }),
    health: result({
      diagnostic: 'health',
      target: host,
      status: s,
      summary: `${host}: /health 200 in 4 ms`,
    }),
  });
  return {
    environment: 'lab',
    apps: [app('app-01'), app('app-02', 'error'), app('app-03')],
    databases: [
      result({
        diagnostic: 'pg-replication',
        target: 'db-primary',
        summary: 'db-primary: db-replica streaming from db-primary, lag 0 s',
      }),
    ],
    caches: [result({ diagnostic: 'redis-stats', target: 'redis-01', summary: 'redis-01: hit rate 97 %' })],
    maintenance: { known: true, enabled: false, message: null, since: null, from: 'app-01' },
    incidents: { total: 7, incidents: [1, 2, 3, 4, 5].map((i) => incident(i)) },
    durationMs: 1234,
    ...over,
  };
}

describe('status', () => {
  it('one line per host, database, redis, maintenance and open incidents', () => {
    const r = ok(statusReply(status(), META));
    expect(r.text).toBe(
      'QNWIS status (lab): 2/3 app hosts ok · database ok · redis ok · maintenance off · 7 open incidents',
    );
    const t = allText(r.blocks);
    expect(t).toContain(':red_circle: *app-02* — qnwis inactive · /health 200 in 4 ms');
    expect(t).toContain(':large_green_circle: *app-01* — qnwis active');
    expect(t).toContain('*db-primary* — db-replica streaming from db-primary, lag 0 s');
    expect(t).toContain('*Maintenance mode:* off');
    expect(t).toContain('*QNWIS-1* SEV-2 HighErrorRate (app-01) · firing · opened 10 min ago');
    expect(t).toContain('…and 2 more: `/qnwis incidents`');
    expect(t).toContain('ref `7K2M9XD4`');
  });

  it('unknown parts say so, and hostile text from hosts is escaped and bounded', () => {
    const long = `${NASTY}${'x'.repeat(20_000)}`;
    const many = Array.from({ length: 40 }, (_, i) => ({
      host: `app-${i}`,
      service: result({
        diagnostic: 'service-status',
        target: `app-${i}`,
        summary: long,
        status: 'unreachable',
      }),
      health: undefined,
    }));
    const r = ok(
      statusReply(
        status({
          apps: many,
          maintenance: { known: false, reason: long },
          incidents: { error: 'the incident store could not be read' },
          databases: [
            result({ diagnostic: 'pg-replication', target: 'db-primary', status: 'timeout', summary: long }),
          ],
        }),
        META,
      ),
    );
    expect(r.text).toContain('0/40 app hosts ok');
    expect(r.text).toContain('open incidents unknown');
  });

  it('maintenance on shows its message', () => {
    const r = ok(
      statusReply(
        status({
          maintenance: {
            known: true,
            enabled: true,
            message: 'DB upgrade',
            since: '2026-11-27T21:00:00Z',
            from: 'app-01',
          },
        }),
        META,
      ),
    );
    expect(allText(r.blocks)).toContain(':warning: *on* — DB upgrade (since 2026-11-27T21:00:00Z)');
  });
});

describe('logs', () => {
  const base: LogsReport = {
    host: 'app-01',
    log: 'error',
    file: '/var/log/qnwis/error.log',
    grep: 'connection pool',
    lines: 100,
    script: "tail -n 100 '/var/log/qnwis/error.log' | grep -F -e 'connection pool'",
    output: [
      '{"ts":"2026-11-27T21:59:00.000Z","level":"ERROR","msg":"connection pool exhausted (pool size 20, 7 waiting)"}',
    ],
    stderr: '',
    outputCut: false,
    problem: null,
    durationMs: 80,
  };

  it('shows the command, the lines in a code block and the count', () => {
    const r = ok(logsReply(base, META));
    const t = allText(r.blocks);
    expect(t).toContain(
      "`tail -n 100 '/var/log/qnwis/error.log' | grep -F -e 'connection pool'` on *app-01*",
    );
    expect(t).toContain('connection pool exhausted (pool size 20, 7 waiting)');
    expect(r.text).toBe('Logs of app-01 (error): 1 lines matching "connection pool"');
  });

  it('1000 long lines: the newest that fit, and a note saying how many', () => {
    const output = Array.from({ length: 1000 }, (_, i) => `${i} ${'q"\\'.repeat(400)}${NASTY}`);
    const r = ok(logsReply({ ...base, output, lines: 1000 }, META));
    expect(blocksSize(r.blocks)).toBeLessThanOrEqual(12_000);
    const t = allText(r.blocks);
    expect(t).toContain('999 q');
    expect(t).toMatch(
      /showing the newest \d+ \(Slack's message size\); narrow it with `--grep` or `--lines`/,
    );
    expect(t).not.toContain('\\n0 q');
  });

  it('JSON log lines are condensed to time level logger: message (like the runbook’s jq)', () => {
    expect(
      condenseLogLine(
        '{"ts":"2026-11-27T23:01:13.843Z","level":"ERROR","logger":"qnwis.query","msg":"query failed: connection pool exhausted","host":"app-01"}',
      ),
    ).toEqual({
      text: '2026-11-27T23:01:13.843Z ERROR qnwis.query: query failed: connection pool exhausted',
      condensed: true,
    });
    expect(condenseLogLine('plain nginx line')).toEqual({ text: 'plain nginx line', condensed: false });
    expect(condenseLogLine('{"no":"msg"}')).toEqual({ text: '{"no":"msg"}', condensed: false });
    expect(condenseLogLine('{broken')).toEqual({ text: '{broken', condensed: false });
    const r = ok(logsReply(base, META));
    expect(allText(r.blocks)).toContain('JSON lines shown as time level logger: message');
  });

  it('a fence in a log line cannot close the code block', () => {
    const r = ok(logsReply({ ...base, output: ['before ``` after', '```'] }, META));
    const code = (
      r.blocks.find((b) => b.type === 'section' && JSON.stringify(b).includes('before')) as {
        text: { text: string };
      }
    ).text.text;
    expect(code.startsWith('```\n')).toBe(true);
    expect(code.match(/```/g)).toHaveLength(2);
  });

  it('no match, unreachable host, stderr', () => {
    expect(allText(ok(logsReply({ ...base, output: [] }, META)).blocks)).toContain(
      'No line matching \\"connection pool\\" in the last 100 lines of /var/log/qnwis/error.log.',
    );
    const down = ok(
      logsReply({ ...base, output: [], problem: 'unreachable over SSH (connect ECONNREFUSED)' }, META),
    );
    expect(down.text).toBe('Logs of app-01 (error): unreachable over SSH (connect ECONNREFUSED)');
    expect(allText(ok(logsReply({ ...base, stderr: `tail: cannot open ${NASTY}` }, META)).blocks)).toContain(
      'stderr: tail: cannot open',
    );
  });

  it('a grep for <!channel> cannot ping anyone through the notification text', () => {
    const r = ok(logsReply({ ...base, grep: '<!channel>', output: [] }, META));
    expect(r.text).toContain('&lt;!channel&gt;');
  });
});

describe('diagnostics (db, redis, cert)', () => {
  it('renders rows of objects as a table with the preferred columns first', () => {
    const r = ok(
      diagnosticsReply(
        {
          title: 'Database · statements running > 5 s',
          runbook: 'Scenario 2',
          results: [
            result({
              diagnostic: 'pg-active-queries',
              target: 'db-primary',
              status: 'warn',
              summary: 'db-primary: 1 statement running > 5 s, oldest 42 s (pid 4242)',
              data: {
                minAgeMs: 5000,
                queries: [
                  {
                    pid: 4242,
                    ageMs: 42_000,
                    user: 'qnwis_reports',
                    state: 'active',
                    query: 'SELECT pg_sleep(3600) /* quarterly sector report */',
                  },
                ],
              },
            }),
          ],
        },
        META,
      ),
    );
    const t = allText(r.blocks);
    expect(t).toContain(
      ':large_yellow_circle: *db-primary* — 1 statement running &gt; 5 s, oldest 42 s (pid 4242)',
    );
    expect(t).toMatch(/pid +ageMs +user +state +query/);
    expect(t).toMatch(/4242 +42\.0 s +qnwis_reports +active +SELECT pg_sleep\(3600\)/);
    expect(t).toContain('minAgeMs: 5.0 s');
  });

  it('evidence of every shape, and huge evidence, stays within limits', () => {
    expect(
      evidenceLines(
        result({
          diagnostic: 'x',
          target: 'y',
          data: { usedMemoryBytes: 2048, hitRate: 0.97, role: 'master' },
        }),
      ),
    ).toEqual(['usedMemoryBytes: 2.0 KiB', 'hitRate: 97.0%', 'role: master']);
    expect(evidenceLines(result({ diagnostic: 'x', target: 'y' }))).toEqual([]);
    const huge = Array.from({ length: 500 }, (_, i) => ({
      table: `t${i}${NASTY}`,
      pretty: '1 GB',
      query: 'x'.repeat(5000),
    }));
    const results = Array.from({ length: 30 }, (_, i) =>
      result({
        diagnostic: 'pg-table-sizes',
        target: `db-${i}`,
        summary: NASTY.repeat(100),
        error: NASTY,
        status: 'error',
        data: { tables: huge },
      }),
    );
    ok(diagnosticsReply({ title: NASTY.repeat(20), runbook: NASTY.repeat(100), results }, META));
  });

  it('no results: the empty note', () => {
    const r = ok(
      diagnosticsReply(
        {
          title: 'TLS certificates',
          runbook: 'openssl',
          results: [],
          empty: 'No TLS endpoints are configured.',
        },
        META,
      ),
    );
    expect(allText(r.blocks)).toContain('No TLS endpoints are configured.');
  });
});

describe('redis keys', () => {
  const base: RedisKeysReport = {
    pattern: 'qnwis:cache:*',
    host: 'redis-01',
    keys: ['qnwis:cache:query:q_1', 'qnwis:cache:query:q_2'],
    truncated: false,
    scanCalls: 1,
    problem: null,
    durationMs: 3,
  };
  it('lists keys, says it used SCAN, and says when the listing stopped', () => {
    const r = ok(redisKeysReply(base, META));
    expect(allText(r.blocks)).toContain('`SCAN 0 MATCH qnwis:cache:* COUNT 500` (never KEYS) on *redis-01*');
    expect(r.text).toBe('Redis keys qnwis:cache:*: 2 keys');
    const many = ok(
      redisKeysReply(
        {
          ...base,
          keys: Array.from({ length: 100 }, (_, i) => `qnwis:cache:${'k'.repeat(400)}${i}`),
          truncated: true,
        },
        META,
      ),
    );
    expect(many.text).toBe('Redis keys qnwis:cache:*: 100+ keys');
    expect(allText(many.blocks)).toContain('listing stops at 100: narrow the pattern');
    ok(redisKeysReply({ ...base, keys: [], problem: 'redis-01: connect ECONNREFUSED' }, META));
  });
});

describe('security', () => {
  const line = (user: string, addr: string) =>
    `{"ts":"2026-11-27T21:5${user.length % 10}:00Z","msg":"authentication failed user_id=${user} reason=invalid_token remote_addr=${addr}"}`;
  const report = (over: Partial<SecurityReport> = {}): SecurityReport => ({
    authFailures: {
      title: 'Failed authentications',
      runbook: 'grep "authentication failed" audit.log | tail -n 100',
      hosts: [
        {
          host: 'app-01',
          lines: [line('analyst_5', '10.0.0.1'), line('analyst_5', '10.0.0.2')],
          problem: null,
        },
        { host: 'app-02', lines: [], problem: 'unreachable over SSH (connect ECONNREFUSED)' },
      ],
    },
    rateLimits: {
      title: 'Rate-limit violations',
      runbook: 'grep rate_limit_exceeded app.log',
      hosts: [{ host: 'app-01', lines: [], problem: null }],
    },
    heavyUsers: {
      runbook: 'users with > 100 queries',
      host: 'db-primary',
      users: [{ userId: 'analyst_9', queries: 412 }],
      problem: null,
    },
    durationMs: 321,
    ...over,
  });

  it('counts per host, top users and addresses, heavy users', () => {
    const r = ok(securityReply(report(), META));
    const t = allText(r.blocks);
    expect(t).toContain(':large_yellow_circle: *app-01*: 2');
    expect(t).toContain(':no_entry: *app-02*: unreachable over SSH');
    expect(t).toContain('top users: analyst_5 ×2');
    expect(t).toContain(':large_green_circle: *app-01*: 0');
    expect(t).toMatch(/analyst_9 +412/);
    expect(r.text).toBe(
      'Security: 2 failed authentications, 0 rate-limit violations (last 100 per host), 1 heavy user',
    );
  });

  it('a missing grant is explained; 300 hostile lines stay within limits', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `${NASTY}${'z'.repeat(3000)} user_id=u${i}`);
    const r = ok(
      securityReply(
        report({
          authFailures: {
            title: 'x',
            runbook: 'y',
            hosts: ['app-01', 'app-02', 'app-03'].map((host) => ({ host, lines, problem: null })),
          },
          heavyUsers: {
            runbook: 'r',
            host: 'db-primary',
            users: [],
            problem: 'the bot’s database role may not read audit.query_log (42501): GRANT …',
          },
        }),
        META,
      ),
    );
    expect(allText(r.blocks)).toContain('may not read audit.query_log');
    expect(allText(r.blocks)).toContain('*app-01*: 100+');
  });

  it('topValues counts field=value occurrences', () => {
    expect(topValues(['a user_id=x', 'user_id=y b', 'user_id=x"', 'none'], 'user_id')).toEqual([
      { value: 'x', count: 2 },
      { value: 'y', count: 1 },
    ]);
  });
});

describe('incidents', () => {
  it('lists open incidents (or none) and one incident with its timeline', () => {
    const list = ok(
      incidentsReply({ total: 25, incidents: Array.from({ length: 20 }, (_, i) => incident(i + 1)) }, META),
    );
    expect(list.text).toBe('25 open incidents, newest QNWIS-1 HighErrorRate');
    expect(allText(list.blocks)).toContain('20 newest of 25 shown');
    expect(allText(ok(incidentsReply({ total: 0, incidents: [] }, META)).blocks)).toContain(
      'No open incidents.',
    );

    const detail = ok(
      incidentReply(
        {
          ...incident(42, {
            acknowledgedBy: `Jane ${NASTY}`,
            slackPermalink: 'http://127.0.0.1:3100/archives/C1/p1|x>',
          }),
          timeline: Array.from({ length: 15 }, (_, i) => ({
            id: i,
            incidentId: 42,
            at: NOW,
            kind: i === 0 ? 'opened' : `kind-${NASTY}`,
            actor: 'alertmanager',
            data: {},
          })),
          timelineTotal: 40,
        },
        META,
      ),
    );
    expect(detail.text).toBe('QNWIS-42 SEV-2 HighErrorRate: firing');
    expect(allText(detail.blocks)).toContain('*Timeline* (last 15 of 40 events)');
    ok(incidentNotFoundReply('QNWIS-99', META));
  });
});

describe('help, usage, refusal, failure', () => {
  it('help lists every verb; help VERB shows its usage and examples', () => {
    const all = ok(helpReply(null, META));
    for (const v of VERBS) expect(allText(all.blocks)).toContain(`/qnwis ${v}`);
    for (const v of VERBS) ok(helpReply(v, META));
    expect(allText(ok(helpReply('logs', META)).blocks)).toContain(
      '/qnwis logs app-02 app --grep \\"query_id=q_2024_001234\\"',
    );
  });

  it('usage errors, refusals and failures are short and within limits', () => {
    ok(usageReply(`unknown host "${NASTY}"`, 'a\nb', META));
    const refused = ok(
      refusalReply('Sorry, `/qnwis status` is limited to … <@U0ONCALL01> can run it for you', META),
    );
    expect(allText(refused.blocks)).toContain('<@U0ONCALL01>');
    expect(allText(refused.blocks)).toContain('This refusal is recorded');
    const failed = ok(failureReply(META));
    expect(failed.text).toBe('Something went wrong (ref 7K2M9XD4)');
    expect(ok(failureReply(META, 'app-09 is not in the inventory')).text).toBe(
      'app-09 is not in the inventory',
    );
  });
});

describe('building blocks', () => {
  it('codeBlocks keeps the tail or the head within its budget', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
    const tail = codeBlocks(lines, { jsonBudget: 300, keep: 'tail' });
    expect(tail.shown).toBeLessThan(100);
    expect(JSON.stringify(tail.blocks)).toContain('line 99');
    const head = codeBlocks(lines, { jsonBudget: 300, keep: 'head' });
    expect(JSON.stringify(head.blocks)).toContain('line 0');
    expect(codeBlocks([], { jsonBudget: 100 })).toEqual({ blocks: [], shown: 0, total: 0, truncated: false });
  });

  it('table pads columns', () => {
    expect(table(['a', 'bb'], [['xxx', 'y']])).toEqual(['a    bb', 'xxx  y']);
  });

  it('fitReply shrinks anything over the limits and says so', () => {
    const blocks: KnownBlock[] = Array.from({ length: 80 }, () => ({
      type: 'section',
      text: { type: 'mrkdwn', text: 'x'.repeat(2900) },
    }));
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'footer' }] });
    const r = ok(fitReply({ text: 'big', blocks }));
    expect(JSON.stringify(r.blocks)).toContain('Output shortened');
    expect(JSON.stringify(r.blocks.at(-1))).toContain('footer');
  });
});
