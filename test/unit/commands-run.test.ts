/**
 * The verbs against fakes of their ports (diagnostics runner, SSH runner, cache, incident store,
 * query log, maintenance GET): which checks each verb asks for, and how failures become results.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ReplyMeta } from '../../src/bot/commands/blocks/common.js';
import type { CommandEnv, DiagnosticRequest, GetJson, SecurityQueries } from '../../src/bot/commands/env.js';
import {
  parseContextFromInventory,
  parseQnwisCommand,
  type QnwisCommand,
} from '../../src/bot/commands/parse.js';
import { auditArgs, runQnwisCommand } from '../../src/bot/commands/run.js';
import { DatabaseError, SshTimeoutError, SshUnreachableError } from '../../src/errors.js';
import type { Host } from '../../src/inventory.js';
import { parseInventory } from '../../src/inventory.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
  shellQuote,
} from '../../src/ops/adapters/ssh.js';
import type { DiagnosticContext, DiagnosticResult } from '../../src/ops/diagnostics/types.js';
import type { IncidentRow, IncidentStore } from '../../src/store/incidents.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');
const ctx = parseContextFromInventory(inventory);
const NOW = new Date('2026-11-27T22:00:00.000Z');
const META: ReplyMeta = { userId: 'U0ONCALL01', now: NOW, ref: 'REF00001' };

function cmd(text: string): QnwisCommand {
  const r = parseQnwisCommand(text, ctx);
  if (!r.ok) throw new Error(r.error);
  return r.invocation.command;
}

class FakeSsh implements RemoteCommandRunner {
  readonly sent: { host: string; name: string; wire: string }[] = [];
  private readonly answer: (
    host: Host,
    name: string,
    args: Record<string, unknown>,
  ) => Partial<RemoteCommandResult> | Error;
  constructor(answer: FakeSsh['answer']) {
    this.answer = answer;
  }
  async run<S extends RemoteArgsShape>(host: Host, command: RemoteCommand<S>, args: RemoteCommandArgs<S>) {
    const wire = renderRemoteCommand(command, args); // validates, exactly like SshRunner
    this.sent.push({ host: host.name, name: command.name, wire });
    const a = this.answer(host, command.name, args as Record<string, unknown>);
    if (a instanceof Error) throw a;
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 5,
      ...a,
    };
  }
}

function fakeStore(rows: IncidentRow[] = []): IncidentStore {
  return {
    openIncidents: async () => rows.filter((r) => r.status !== 'resolved'),
    get: async (id: number) => rows.find((r) => r.id === id),
    alerts: async () => [],
    timeline: async () => [],
  } as unknown as IncidentStore;
}

function env(
  over: {
    results?: (r: DiagnosticRequest) => Partial<DiagnosticResult>;
    ssh?: RemoteCommandRunner;
    cache?: Partial<FleetCache>;
    store?: IncidentStore;
    security?: SecurityQueries;
    getJson?: GetJson;
    runDiagnostics?: CommandEnv['runDiagnostics'];
  } = {},
): CommandEnv & { requests: DiagnosticRequest[] } {
  const requests: DiagnosticRequest[] = [];
  const diagnostics: DiagnosticContext = {
    inventory,
    ssh: over.ssh ?? new FakeSsh(() => ({})),
    db: {} as DiagnosticContext['db'],
    cache: (over.cache ?? {}) as FleetCache,
    adminToken: 'admin-token',
    stepTimeoutMs: 5000,
    now: () => NOW,
  };
  return {
    requests,
    inventory,
    diagnostics,
    runDiagnostics:
      over.runDiagnostics ??
      (async (_ctx, reqs) => {
        requests.push(...reqs);
        // Out of order on purpose: results are matched by diagnostic and target.
        return [...reqs].reverse().map((r) => ({
          diagnostic: r.diagnostic,
          target: r.target,
          status: 'ok' as const,
          summary: `${r.target}: ${r.diagnostic} fine`,
          durationMs: 3,
          ...over.results?.(r),
        }));
      }),
    incidents: over.store ?? fakeStore(),
    security: over.security ?? { heavyQueryUsers: async () => [] },
    getJson: over.getJson ?? (async () => ({ enabled: false, message: null, since: null })),
    httpTimeoutMs: 1000,
    now: () => NOW,
    log: silentLogger,
  };
}

const text = (r: { blocks: unknown[] }) => JSON.stringify(r.blocks);

describe('verbs → checks', () => {
  it('db views ask the primary for the matching diagnostic', async () => {
    const expected: Record<string, DiagnosticRequest> = {
      connections: { diagnostic: 'pg-connections', target: 'db-primary' },
      activity: { diagnostic: 'pg-active-queries', target: 'db-primary', input: { minAgeMs: 0 } },
      slow: { diagnostic: 'pg-active-queries', target: 'db-primary' },
      statements: { diagnostic: 'pg-statements', target: 'db-primary' },
      tables: { diagnostic: 'pg-table-sizes', target: 'db-primary' },
      seqscans: { diagnostic: 'pg-seqscans', target: 'db-primary' },
      lag: { diagnostic: 'pg-replication', target: 'db-primary' },
    };
    for (const [view, request] of Object.entries(expected)) {
      const e = env();
      const reply = await runQnwisCommand(cmd(`db ${view}`), e, META);
      expect(e.requests).toEqual([request]);
      expect(text(reply)).toContain(`:large_green_circle: *db-primary* — ${request.diagnostic} fine`);
    }
  });

  it('status: service-status and health per app host, replication, every redis, maintenance, incidents', async () => {
    const got: { url: string; token?: string }[] = [];
    const e = env({
      results: (r) =>
        r.target === 'app-02' ? { status: 'error', summary: 'app-02: qnwis inactive (exit 3)' } : {},
      getJson: async (url, o) => {
        got.push({ url, ...(o.bearerToken ? { token: o.bearerToken } : {}) });
        if (url.includes('127.0.1.1')) throw Object.assign(new Error('down'), { code: 'http_unreachable' });
        return { enabled: true, message: 'upgrade', since: '2026-11-27T21:00:00Z' };
      },
      store: fakeStore([
        {
          id: 3,
          key: 'QNWIS-3',
          status: 'firing',
          severity: 'SEV-1',
          alertname: 'DatabaseDown',
          openedAt: NOW,
        } as IncidentRow,
      ]),
    });
    const reply = await runQnwisCommand(cmd('status'), e, META);
    expect(e.requests.map((r) => `${r.diagnostic}@${r.target}`)).toEqual([
      'service-status@app-01',
      'health@app-01',
      'service-status@app-02',
      'health@app-02',
      'service-status@app-03',
      'health@app-03',
      'pg-replication@db-primary',
      'redis-stats@redis-01',
      'redis-stats@redis-02',
    ]);
    expect(got).toHaveLength(3);
    expect(got[0]).toEqual({ url: 'http://127.0.1.1:8000/admin/maintenance', token: 'admin-token' });
    expect(reply.text).toBe(
      'QNWIS status (lab): 2/3 app hosts ok · database ok · redis ok · maintenance on · 1 open incident',
    );
    const t = text(reply);
    expect(t).toContain(':red_circle: *app-02* — qnwis inactive (exit 3)');
    expect(t).toContain(':warning: *on* — upgrade');
    expect(t).toContain('*QNWIS-3* SEV-1 DatabaseDown');
  });

  it('a runner that throws becomes error results, not a failed command', async () => {
    const e = env({
      runDiagnostics: async () => {
        throw new Error('bug');
      },
    });
    const reply = await runQnwisCommand(cmd('db slow'), e, META);
    expect(text(reply)).toContain(':red_circle: *db-primary* — the diagnostic could not run');
  });

  it('redis stats on every cache host; cert on the fleet', async () => {
    const e = env();
    await runQnwisCommand(cmd('redis memory'), e, META);
    await runQnwisCommand(cmd('cert'), e, META);
    expect(e.requests).toEqual([
      { diagnostic: 'redis-stats', target: 'redis-01' },
      { diagnostic: 'redis-stats', target: 'redis-02' },
      { diagnostic: 'tls-expiry', target: 'fleet' },
    ]);
  });
});

describe('logs over the SSH port', () => {
  it('sends the template with the inventory file and the pattern single-quoted', async () => {
    const ssh = new FakeSsh(() => ({
      stdout: 'ERROR connection pool exhausted\nERROR connection pool exhausted again\n',
      exitCode: 0,
    }));
    const reply = await runQnwisCommand(
      cmd(`logs app-01 error --grep "it's \`id\` $(x)" --lines 50`),
      env({ ssh }),
      META,
    );
    expect(ssh.sent).toHaveLength(1);
    expect(ssh.sent[0]?.host).toBe('app-01');
    expect(ssh.sent[0]?.name).toBe('log-tail-grep');
    // The script inside `timeout … sh -c '…'`: the pattern is one single-quoted word.
    expect(ssh.sent[0]?.wire).toBe(
      `timeout --kill-after=2 5 sh -c ${shellQuote(`tail -n '50' '/var/log/qnwis/error.log' | grep -F -e 'it'\\''s \`id\` $(x)'`)}`,
    );
    expect(reply.text).toBe(`Logs of app-01 (error): 2 lines matching "it's \`id\` $(x)"`);
    expect(text(reply)).toContain('connection pool exhausted again');
  });

  it('without --grep: plain tail; host failures are answers', async () => {
    const ssh = new FakeSsh((h) =>
      h.name === 'app-02'
        ? new SshUnreachableError('app-02', 'cannot connect to 127.0.1.2:2222: ECONNREFUSED')
        : new SshTimeoutError(h.name, 'log-tail', 5, 'remote'),
    );
    const e = env({ ssh });
    const down = await runQnwisCommand(cmd('logs app-02'), e, META);
    expect(ssh.sent[0]?.name).toBe('log-tail');
    expect(down.text).toBe(
      'Logs of app-02 (app): unreachable over SSH (cannot connect to 127.0.1.2:2222: ECONNREFUSED)',
    );
    const slow = await runQnwisCommand(cmd('logs app-03 audit'), e, META);
    expect(slow.text).toBe('Logs of app-03 (audit): did not answer in time (5 s)');
  });
});

describe('redis keys over the cache port', () => {
  it('scans the first cache host with a cap, and tries the next when one is down', async () => {
    const calls: { host: string; pattern: string; opts: unknown }[] = [];
    const cache: Partial<FleetCache> = {
      scanKeys: async (host, pattern, opts) => {
        calls.push({ host: host.name, pattern, opts });
        if (host.name === 'redis-01') {
          const { CacheUnreachableError } = await import('../../src/errors.js');
          throw new CacheUnreachableError('redis-01', 'connect ECONNREFUSED');
        }
        return { keys: ['qnwis:cache:b', 'qnwis:cache:a'], truncated: false, calls: 1 };
      },
    };
    const reply = await runQnwisCommand(cmd("redis keys 'qnwis:cache:*'"), env({ cache }), META);
    expect(calls).toEqual([
      { host: 'redis-01', pattern: 'qnwis:cache:*', opts: { limit: 100, count: 500, maxCalls: 200 } },
      { host: 'redis-02', pattern: 'qnwis:cache:*', opts: { limit: 100, count: 500, maxCalls: 200 } },
    ]);
    expect(reply.text).toBe('Redis keys qnwis:cache:*: 2 keys');
    expect(text(reply)).toContain('qnwis:cache:a\\nqnwis:cache:b');
  });
});

describe('security', () => {
  it('greps audit.log and app.log on every app host and asks the primary for heavy users', async () => {
    const ssh = new FakeSsh((_h, _n, args) => ({
      stdout:
        args.pattern === 'authentication failed' ? 'x authentication failed user_id=a remote_addr=1\n' : '',
    }));
    const asked: unknown[] = [];
    const reply = await runQnwisCommand(
      cmd('security'),
      env({
        ssh,
        security: {
          heavyQueryUsers: async (host, opts) => {
            asked.push({ host: host.name, ...opts });
            throw new DatabaseError('db-primary', 'permission denied for schema audit', '42501');
          },
        },
      }),
      META,
    );
    expect(ssh.sent.map((s) => `${s.name}@${s.host}`).sort()).toEqual([
      'log-grep-tail@app-01',
      'log-grep-tail@app-01',
      'log-grep-tail@app-02',
      'log-grep-tail@app-02',
      'log-grep-tail@app-03',
      'log-grep-tail@app-03',
    ]);
    expect(
      ssh.sent.some((s) =>
        s.wire.includes("grep -F -e '\\''authentication failed'\\'' '\\''/var/log/qnwis/audit.log'\\''"),
      ),
    ).toBe(true);
    expect(
      ssh.sent.some((s) =>
        s.wire.includes("grep -F -e '\\''rate_limit_exceeded'\\'' '\\''/var/log/qnwis/app.log'\\''"),
      ),
    ).toBe(true);
    expect(asked).toEqual([{ host: 'db-primary', threshold: 100, windowMinutes: 60, limit: 50 }]);
    expect(reply.text).toBe(
      'Security: 3 failed authentications, 0 rate-limit violations (last 100 per host), heavy users unknown',
    );
    expect(text(reply)).toContain('GRANT SELECT ON audit.query_log TO qnwis_ops');
  });
});

describe('incidents', () => {
  it('incident ID found and not found', async () => {
    const store = fakeStore([
      {
        id: 5,
        key: 'QNWIS-5',
        status: 'acknowledged',
        severity: 'SEV-3',
        alertname: 'LowCacheHitRate',
        openedAt: NOW,
        resolvedAt: null,
        channel: 'qnwis-db',
      } as IncidentRow,
    ]);
    expect((await runQnwisCommand(cmd('incident 5'), env({ store }), META)).text).toBe(
      'QNWIS-5 SEV-3 LowCacheHitRate: acknowledged',
    );
    expect((await runQnwisCommand(cmd('incident QNWIS-6'), env({ store }), META)).text).toBe(
      'QNWIS-6 not found',
    );
    expect((await runQnwisCommand(cmd('incidents'), env({ store }), META)).text).toBe(
      '1 open incident, newest QNWIS-5 LowCacheHitRate',
    );
  });

  it('audit args are the parsed command without the verb', () => {
    expect(auditArgs(cmd('logs app-01 error --grep x --lines 5'))).toEqual({
      host: 'app-01',
      log: 'error',
      grep: 'x',
      lines: 5,
    });
    expect(auditArgs(cmd('status'))).toEqual({});
  });
});
