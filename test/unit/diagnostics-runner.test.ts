/**
 * runDiagnostics without hosts: fakes of the three adapter ports (the SSH fake renders every
 * command with the real template renderer, so argument validation is the production one) drive
 * deadlines, error mapping, input validation and default targets.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CacheUnreachableError,
  DatabaseTimeoutError,
  SshAuthError,
  SshHostKeyMismatchError,
  SshUnreachableError,
} from '../../src/errors.js';
import { type Host, type Inventory, loadInventory } from '../../src/inventory.js';
import type { FleetDatabase } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
} from '../../src/ops/adapters/ssh.js';
import {
  createDiagnosticContext,
  DIAGNOSTIC_NAMES,
  DIAGNOSTICS,
  listDiagnostics,
  runDiagnostics,
} from '../../src/ops/diagnostics/index.js';

const labInventoryFile: Inventory = loadInventory(
  fileURLToPath(new URL('../../lab/inventory.yaml', import.meta.url)),
);
// Unit tests never touch the network: the lab's TLS endpoint is left out (tls-expiry would probe it).
const inventory: Inventory = {
  ...labInventoryFile,
  monitoring: { ...labInventoryFile.monitoring, tlsEndpoints: [] },
};

type Reply = (
  host: Host,
  command: string,
) => Promise<Partial<RemoteCommandResult>> | Partial<RemoteCommandResult>;

/** Records what would be sent; answers with `reply`. */
class FakeSsh implements RemoteCommandRunner {
  readonly sent: { host: string; command: string; wire: string }[] = [];
  private readonly reply: Reply;
  constructor(reply: Reply = () => ({ stdout: '' })) {
    this.reply = reply;
  }
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    args: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    const wire = renderRemoteCommand(command, args); // throws InvalidArgumentError like SshRunner.run
    this.sent.push({ host: host.name, command: command.name, wire });
    const r = await this.reply(host, command.name);
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 1,
      ...r,
    };
  }
}

/** An object whose every method records its call and answers with `impl(method, args)`. */
function recorder<T extends object>(
  impl: (method: string, args: unknown[]) => unknown,
): { fake: T; calls: string[] } {
  const calls: string[] = [];
  const fake = new Proxy(
    {},
    {
      get: (_t, prop) =>
        typeof prop === 'string'
          ? (...args: unknown[]) => {
              calls.push(`${prop}(${args.map((a) => (a as Host)?.name ?? JSON.stringify(a)).join(', ')})`);
              return impl(prop, args);
            }
          : undefined,
    },
  ) as T;
  return { fake, calls };
}

const never = () => new Promise<never>(() => {});

function context(opts: {
  ssh?: RemoteCommandRunner;
  db?: (method: string, args: unknown[]) => unknown;
  cache?: (method: string, args: unknown[]) => unknown;
  stepTimeoutMs?: number;
}) {
  const db = recorder<FleetDatabase>(opts.db ?? (() => Promise.reject(new Error('no db in this test'))));
  const cache = recorder<FleetCache>(
    opts.cache ?? (() => Promise.reject(new Error('no cache in this test'))),
  );
  const ctx = createDiagnosticContext({
    inventory,
    ssh: opts.ssh ?? new FakeSsh(),
    db: db.fake,
    cache: cache.fake,
    adminToken: undefined,
    stepTimeoutMs: opts.stepTimeoutMs ?? 1_000,
    now: () => new Date('2026-11-27T23:00:00Z'),
  });
  return { ctx, dbCalls: db.calls, cacheCalls: cache.calls };
}

describe('the registry', () => {
  it('lists every diagnostic with a title and the runbook command it stands for', () => {
    expect(DIAGNOSTIC_NAMES).toEqual([
      'service-status',
      'error-log',
      'health',
      'memory',
      'pg-connections',
      'pg-active-queries',
      'pg-statements',
      'pg-seqscans',
      'pg-table-sizes',
      'pg-replication',
      'redis-stats',
      'tls-expiry',
    ]);
    for (const d of listDiagnostics()) {
      expect(DIAGNOSTICS[d.name].name).toBe(d.name);
      expect(d.title.length).toBeGreaterThan(3);
      expect(d.runbook.length).toBeGreaterThan(3);
    }
  });
});

describe('runDiagnostics', () => {
  it('runs in parallel and answers in request order', async () => {
    const ssh = new FakeSsh(async (_h, command) => {
      await new Promise((r) => setTimeout(r, 300));
      return command === 'service-is-active'
        ? { stdout: 'active\n' }
        : { stdout: '', exitCode: command === 'error-log-errors' ? 1 : 0 };
    });
    const { ctx } = context({ ssh });
    const started = Date.now();
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'service-status', target: 'app-01' },
      { diagnostic: 'error-log', target: 'app-02' },
      { diagnostic: 'service-status', target: 'app-03' },
    ]);
    expect(Date.now() - started).toBeLessThan(700);
    expect(results.map((r) => [r.diagnostic, r.target, r.status])).toEqual([
      ['service-status', 'app-01', 'ok'],
      ['error-log', 'app-02', 'ok'],
      ['service-status', 'app-03', 'ok'],
    ]);
    expect(results[1]?.summary).toBe(
      'app-02: no ERROR lines in the last 500 lines of /var/log/qnwis/error.log',
    );
  });

  it('a hanging host is a timeout at stepTimeoutMs + 1 s; the others still report', async () => {
    const ssh = new FakeSsh((host) => (host.name === 'app-02' ? never() : { stdout: 'active\n' }));
    const { ctx } = context({ ssh, stepTimeoutMs: 300 });
    const started = Date.now();
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'service-status', target: 'app-01' },
      { diagnostic: 'service-status', target: 'app-02' },
    ]);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_250);
    expect(took).toBeLessThan(1_800);
    expect(results[0]?.status).toBe('ok');
    expect(results[1]).toMatchObject({
      diagnostic: 'service-status',
      target: 'app-02',
      status: 'timeout',
      summary:
        'app-02: service-status did not finish within 1300 ms (step deadline); the host or service may be hanging',
    });
  });

  it('maps typed adapter errors: unreachable, timeout, auth and host-key errors', async () => {
    const ssh = new FakeSsh((host) => {
      if (host.name === 'app-01')
        throw new SshUnreachableError('app-01', 'cannot connect to 127.0.9.99:2222: ECONNREFUSED');
      if (host.name === 'app-02') throw new SshHostKeyMismatchError('app-02', ['SHA256:aaa'], 'SHA256:bbb');
      throw new SshAuthError('app-03', 'the host refused key /k for user root');
    });
    const { ctx } = context({
      ssh,
      db: () => Promise.reject(new DatabaseTimeoutError('db-primary', 5000, 'client')),
      cache: () =>
        Promise.reject(new CacheUnreachableError('redis-01', 'connect ECONNREFUSED 127.0.3.1:6379')),
    });
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'memory', target: 'app-01' },
      { diagnostic: 'memory', target: 'app-02' },
      { diagnostic: 'memory', target: 'app-03' },
      { diagnostic: 'pg-connections', target: 'db-primary' },
      { diagnostic: 'redis-stats', target: 'redis-01' },
    ]);
    expect(results.map((r) => r.status)).toEqual(['unreachable', 'error', 'error', 'timeout', 'unreachable']);
    expect(results[0]?.summary).toBe(
      'app-01: memory — not reachable over SSH (cannot connect to 127.0.9.99:2222: ECONNREFUSED)',
    );
    expect(results[1]?.summary).toMatch(/^app-02: memory — SSH host key does not match the pinned key/);
    expect(results[2]?.summary).toMatch(/^app-03: memory — SSH login refused/);
    expect(results[3]?.summary).toMatch(/^db-primary: pg-connections — PostgreSQL query timed out/);
    expect(results[4]?.summary).toMatch(/^redis-01: redis-stats — Redis not reachable/);
    for (const r of results) expect(r.error).toBeTruthy();
  });

  it('an empty target means the diagnostic’s default host', async () => {
    const { ctx, dbCalls, cacheCalls } = context({
      ssh: new FakeSsh(() => ({ stdout: 'active\n' })),
      db: () => Promise.reject(new DatabaseTimeoutError('x', 1, 'client')),
      cache: () => Promise.reject(new CacheUnreachableError('x', 'refused')),
    });
    const results = await runDiagnostics(
      ctx,
      ['service-status', 'pg-connections', 'pg-replication', 'redis-stats', 'tls-expiry'].map((d) => ({
        diagnostic: d,
        target: '',
      })),
    );
    expect(results.map((r) => r.target)).toEqual(['app-01', 'db-primary', 'db-replica', 'redis-01', 'fleet']);
    expect(dbCalls).toContain('connectionCount(db-primary)');
    expect(dbCalls).toContain('replicationStatus(db-replica)');
    expect(dbCalls).toContain('replicationStatus(db-primary)');
    expect(cacheCalls).toEqual(['stats(redis-01)']);
    expect(results[4]).toMatchObject({ status: 'ok', summary: 'fleet: no TLS endpoints configured' });
  });

  it('a host without the needed role, an unknown host, an unknown diagnostic: errors, nothing sent', async () => {
    const ssh = new FakeSsh();
    const { ctx, dbCalls } = context({ ssh });
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'pg-connections', target: 'app-01' },
      { diagnostic: 'memory', target: 'app-99' },
      { diagnostic: 'rm-rf', target: 'app-01' },
      { diagnostic: 'error-log', target: 'db-primary', input: { log: 'error' } },
    ]);
    expect(results.map((r) => r.status)).toEqual(['error', 'error', 'error', 'error']);
    expect(results[0]?.summary).toBe(
      'app-01: pg-connections — host "app-01" is not a db-primary or db-replica host (roles: app)',
    );
    expect(results[1]?.summary).toBe('app-99: memory — host "app-99" is not in the inventory');
    expect(results[2]?.summary).toMatch(/^app-01: unknown diagnostic "rm-rf" \(known: service-status, /);
    expect(results[3]?.summary).toMatch(
      /^db-primary: error-log — db-primary has no service with a log named "error"/,
    );
    expect(ssh.sent).toEqual([]);
    expect(dbCalls).toEqual([]);
  });

  it('validates input: types, ranges, unknown keys, a second target', async () => {
    const ssh = new FakeSsh();
    const { ctx } = context({ ssh });
    const results = await runDiagnostics(ctx, [
      { diagnostic: 'error-log', target: 'app-01', input: { lines: 0 } },
      { diagnostic: 'error-log', target: 'app-01', input: { lines: '500' } },
      { diagnostic: 'error-log', target: 'app-01', input: { lnes: 5 } },
      { diagnostic: 'error-log', target: 'app-01', input: { target: 'app-02' } },
      { diagnostic: 'error-log', target: 'app-01', input: 'lines=5' },
      { diagnostic: 'error-log', target: 'app-01', input: JSON.parse('{"__proto__": {"polluted": true}}') },
    ]);
    for (const r of results) {
      expect(r.status).toBe('error');
      expect(r.summary).toMatch(/^app-01: error-log not run — invalid input \(/);
    }
    expect(results[0]?.summary).toContain('lines:');
    expect(results[3]?.summary).toContain('target given twice');
    expect(results[4]?.summary).toContain('input must be an object');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(ssh.sent).toEqual([]);
  });

  it('the same target inside input is accepted', async () => {
    const { ctx } = context({ ssh: new FakeSsh(() => ({ stdout: '', exitCode: 1 })) });
    const [r] = await runDiagnostics(ctx, [
      { diagnostic: 'error-log', target: 'app-01', input: { target: 'app-01', lines: 50 } },
    ]);
    expect(r).toMatchObject({
      status: 'ok',
      summary: 'app-01: no ERROR lines in the last 50 lines of /var/log/qnwis/error.log',
    });
  });

  it('a missing log file is an error, not "no errors" (grep exits 1 either way)', async () => {
    const { ctx } = context({
      ssh: new FakeSsh(() => ({
        stdout: '',
        exitCode: 1,
        stderr: "tail: cannot open '/var/log/qnwis/error.log' for reading: No such file or directory\n",
      })),
    });
    const [r] = await runDiagnostics(ctx, [{ diagnostic: 'error-log', target: 'app-01' }]);
    expect(r?.status).toBe('error');
    expect(r?.summary).toBe(
      "app-01: cannot read /var/log/qnwis/error.log: tail: cannot open '/var/log/qnwis/error.log' for reading: No such file or directory",
    );
  });

  it('createDiagnosticContext refuses a nonsensical step timeout', () => {
    const { ctx } = context({});
    expect(() => createDiagnosticContext({ ...ctx, stepTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => createDiagnosticContext({ ...ctx, stepTimeoutMs: Number.NaN })).toThrow(RangeError);
    expect(createDiagnosticContext({ ...ctx, stepTimeoutMs: undefined }).stepTimeoutMs).toBe(5_000);
  });
});
