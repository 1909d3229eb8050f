/**
 * `failover` without the lab: the plan is plain JSON built from the inventory alone (one step per
 * action, each with its own id, the whole fleet as blast radius) and hashes the same when nothing
 * changed; the inventory cases it refuses; the precheck's refusals (a primary that still answers,
 * a lagging replica, an app host that cannot be repointed) with fakes of the adapter ports; a run
 * stops at the first failed step and at Cancel; and the settings-file rewrite itself, run by a real
 * `sh` on a real file (the lab's `sudo` shim on PATH): only DATABASE_HOST changes, atomically, with
 * the file's mode, and a file with no or two such lines is refused and left alone.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DatabaseUnreachableError, InvalidArgumentError, SshUnreachableError } from '../../src/errors.js';
import { planHash } from '../../src/incidents/approvals.js';
import { type Host, parseInventory } from '../../src/inventory.js';
import type { FleetDatabase, ReplicationStatus } from '../../src/ops/adapters/postgres.js';
import type { FleetCache } from '../../src/ops/adapters/redis.js';
import {
  type RemoteArgsShape,
  type RemoteCommand,
  type RemoteCommandArgs,
  type RemoteCommandResult,
  type RemoteCommandRunner,
  renderRemoteCommand,
  renderRemoteScript,
} from '../../src/ops/adapters/ssh.js';
import { parseCommand } from '../../src/ops/commands/catalog.js';
import {
  buildFailoverPlan,
  createFailoverCommand,
  parseDatabaseHostLines,
  parseRewriteOutput,
  readDatabaseHost,
  writeDatabaseHost,
} from '../../src/ops/commands/failover.js';
import {
  type CommandContext,
  commandModule,
  createCommandContext,
  failover,
  PlanRefusedError,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const execFileAsync = promisify(execFile);
const LAB_INVENTORY = readFileSync('lab/inventory.yaml', 'utf8');
const inventory = parseInventory(LAB_INVENTORY, 'lab/inventory.yaml');

function args(raw: unknown = {}) {
  const r = parseCommand('failover', raw, inventory);
  if (!r.ok || r.command.name !== 'failover') throw new Error(r.ok ? 'not failover' : r.error);
  return r.command.args;
}

// ---------------------------------------------------------------------------------------------
// Fakes of the ports

class FakeSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  private readonly answer: (host: string, command: string) => Partial<RemoteCommandResult> | Error;
  constructor(answer: (host: string, command: string) => Partial<RemoteCommandResult> | Error) {
    this.answer = answer;
  }
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    renderRemoteCommand(command, a);
    this.sent.push(`${host.name} ${command.name}`);
    const answer = this.answer(host.name, command.name);
    if (answer instanceof Error) throw answer;
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 1,
      ...answer,
    };
  }
}

/** Every app host reads DATABASE_HOST=127.0.2.1; rewrites answer as the template does. */
const settingsSsh = (fail?: { host: string; command: string; error: Error }) =>
  new FakeSsh((host, command) => {
    if (fail && fail.host === host && fail.command === command) return fail.error;
    if (command === 'read-database-host') return { stdout: 'DATABASE_HOST=127.0.2.1\n' };
    if (command === 'write-database-host') return { stdout: 'before=127.0.2.1\nafter=127.0.2.2\n' };
    return {};
  });

interface DbState {
  replica: ReplicationStatus | Error;
  /** What connecting to the old primary does. */
  primary: 'up' | Error;
  calls: string[];
}

function fakeDb(state: Partial<DbState> = {}): { db: FleetDatabase; s: DbState } {
  const s: DbState = {
    replica: {
      role: 'replica',
      receiveLsn: '0/3000148',
      replayLsn: '0/3000148',
      lagSeconds: 0,
      lagBytes: 0,
      replayPaused: false,
      lastReplayAt: null,
      walReceiverStatus: null,
      senderHost: null,
      senderPort: null,
    },
    primary: new DatabaseUnreachableError('db-primary', 'connect ECONNREFUSED 127.0.2.1:5432'),
    calls: [],
    ...state,
  };
  let promoted = false;
  const db = {
    replicationStatus: async (h: Host) => {
      s.calls.push(`replicationStatus(${h.name})`);
      if (s.replica instanceof Error) throw s.replica;
      return s.replica;
    },
    isInRecovery: async (h: Host) => {
      s.calls.push(`isInRecovery(${h.name})`);
      if (h.name === 'db-primary') {
        if (s.primary instanceof Error) throw s.primary;
        return false;
      }
      return !promoted;
    },
    promote: async (h: Host) => {
      s.calls.push(`promote(${h.name})`);
      promoted = true;
      return { promoted: true, tookMs: 120 };
    },
    probeWrite: async (h: Host) => {
      s.calls.push(`probeWrite(${h.name})`);
      return { writable: true, latencyMs: 2 };
    },
    connectionCount: async () => ({
      database: 'qnwis_prod',
      total: 6,
      active: 1,
      idle: 5,
      idleInTransaction: 0,
      maxConnections: 100,
      appPoolSize: 20,
    }),
  } as unknown as FleetDatabase;
  return { db, s };
}

function fakeClock(start = Date.parse('2026-03-01T10:00:00.000Z')) {
  let t = start;
  return {
    now: () => new Date(t),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (!signal?.aborted) t += Math.max(0, ms);
    },
  };
}

function context(ssh: RemoteCommandRunner, db: FleetDatabase): CommandContext {
  const clock = fakeClock();
  return createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh,
      db,
      cache: {} as FleetCache,
      adminToken: undefined,
      stepTimeoutMs: 1_000,
      now: clock.now,
    }),
    { sleep: clock.sleep },
  );
}

/** The approval hash of a failover plan (src/incidents/approvals.ts). */
function hash(plan: unknown, a: unknown): string {
  return planHash({ command: 'failover', args: a, targets: [], plan });
}

function collect() {
  const progress: StepProgress[] = [];
  return {
    progress,
    report: async (p: StepProgress) => {
      progress.push(p);
    },
    lines: () => progress.map((p) => `${p.stepId}:${p.status}`),
  };
}

// ---------------------------------------------------------------------------------------------

describe('the failover plan', () => {
  it('is registered under its catalog name', () => {
    expect(commandModule('failover')).toBe(failover);
  });

  it('one step per action, each with its own id, in the runbook order; the whole fleet as blast radius', () => {
    const plan = buildFailoverPlan(inventory, args());
    expect(plan.command).toBe('failover');
    expect(plan.summary).toBe('failover to db-replica');
    expect(plan.steps.map((s) => `${s.id}@${s.host}:${s.kind}`)).toEqual([
      'promote@db-replica:sql',
      'wait-writable@db-replica:sql',
      'repoint-app-01@app-01:remote-command',
      'restart-app-01@app-01:remote-command',
      'db-check-app-01@app-01:health-gate',
      'repoint-app-02@app-02:remote-command',
      'restart-app-02@app-02:remote-command',
      'db-check-app-02@app-02:health-gate',
      'repoint-app-03@app-03:remote-command',
      'restart-app-03@app-03:remote-command',
      'db-check-app-03@app-03:health-gate',
      'verify-writes@db-replica:sql',
      'old-primary@db-primary:capture',
    ]);
    expect(new Set(plan.steps.map((s) => s.id)).size).toBe(plan.steps.length);
    expect(plan.steps[0]?.description).toBe(
      'SELECT pg_promote(true, 60) on db-replica (127.0.2.2): it leaves recovery and becomes the primary in place of db-primary',
    );
    expect(plan.steps[2]?.description).toBe(
      'Set DATABASE_HOST=127.0.2.2 (db-replica) in /etc/qnwis/.env on app-01: only that line changes, written to a temporary file and renamed over the old one',
    );
    expect(plan.steps[3]?.description).toBe(
      'sudo systemctl restart qnwis on app-01, then GET http://127.0.1.1:8000/health must answer 2xx within 60 s',
    );
    expect(plan.steps[4]?.description).toContain(
      'http://127.0.1.1:8000/health/detailed must report its database check ok',
    );
    expect(plan.blastRadius).toBe(
      'the whole fleet: the database primary moves from db-primary to db-replica; all 3 app hosts are repointed and restarted, 1 of 3 at a time; no standby remains until db-primary is rebuilt',
    );
    expect(plan.facts).toMatchObject({
      oldPrimary: 'db-primary',
      oldPrimaryAddress: '127.0.2.1',
      newPrimary: 'db-replica',
      newPrimaryAddress: '127.0.2.2',
      force: false,
      maxLagSeconds: 30,
      settingsFile: '/etc/qnwis/.env',
      setting: 'DATABASE_HOST',
    });
    expect(plan.facts.apps.map((a) => a.host)).toEqual(['app-01', 'app-02', 'app-03']);
    // Plain JSON: what is stored and hashed is exactly what was planned.
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('the same request plans the same; --force is another plan (and another hash) and says why', async () => {
    const a = buildFailoverPlan(inventory, args());
    const b = await failover.plan(context(settingsSsh(), fakeDb().db), args());
    expect(hash(b, args())).toBe(hash(a, args()));
    const forced = buildFailoverPlan(inventory, args({ force: true }));
    expect(hash(forced, args())).not.toBe(hash(a, args()));
    expect(forced.summary).toBe('failover to db-replica (--force)');
    expect(forced.blastRadius).toContain('--force: db-primary may still be running and accepting writes');
    // The limits are part of the plan the approvers see.
    const strict = buildFailoverPlan(inventory, args(), { maxLagSeconds: 5 });
    expect(hash(strict, args())).not.toBe(hash(a, args()));
  });

  it('refuses an inventory it cannot fail over: no primary to replace, no detailed health URL, no replica', () => {
    const noPrimary = parseInventory(
      LAB_INVENTORY.replace(
        'db-primary: { address: 127.0.2.1, roles: [db-primary] }',
        'db-old: { address: 127.0.2.1, roles: [redis] }',
      ),
      'lab/inventory.yaml',
    );
    expect(() => buildFailoverPlan(noPrimary, { to: 'db-replica', force: false })).toThrow(
      'failover: the inventory names no db-primary host to replace',
    );
    const noDetailed = parseInventory(
      LAB_INVENTORY.replace(/^ {4}health_detailed_url: .*\n/m, ''),
      'lab/inventory.yaml',
    );
    expect(() => buildFailoverPlan(noDetailed, args())).toThrow(PlanRefusedError);
    expect(() => buildFailoverPlan(noDetailed, args())).toThrow(/no health_detailed_url/);
    expect(() => buildFailoverPlan(inventory, { to: 'app-01', force: false })).toThrow(
      'failover: app-01 is not a database replica (roles: app)',
    );
  });
});

describe('the failover precheck', () => {
  const plan = buildFailoverPlan(inventory, args());

  it('passes when the replica is caught up, the primary refuses connections and every app host can be repointed', async () => {
    const ssh = settingsSsh();
    const { db } = fakeDb();
    const r = await failover.precheck(context(ssh, db), args(), plan);
    expect(r).toEqual({
      ok: true,
      detail:
        'db-replica is a standby 0.0 s behind (limit 30 s); db-primary does not accept connections (connect ECONNREFUSED 127.0.2.1:5432); DATABASE_HOST now: app-01 127.0.2.1, app-02 127.0.2.1, app-03 127.0.2.1',
    });
    expect(ssh.sent.sort()).toEqual([
      'app-01 read-database-host',
      'app-02 read-database-host',
      'app-03 read-database-host',
    ]);
  });

  it('refuses while the primary still answers; --force accepts it and says so', async () => {
    const { db } = fakeDb({ primary: 'up' });
    const refused = await failover.precheck(context(settingsSsh(), db), args(), plan);
    expect(refused).toEqual({
      ok: false,
      reason:
        'db-primary still accepts connections (it answers as a primary): a failover now would leave two primaries. Stop it first, or request failover --force',
    });
    const forcedArgs = args({ force: true });
    const forced = await failover.precheck(
      context(settingsSsh(), db),
      forcedArgs,
      buildFailoverPlan(inventory, forcedArgs),
    );
    expect(forced.ok).toBe(true);
    expect(forced.ok && forced.detail).toContain('db-primary still accepts connections (--force): stop it');
  });

  it('refuses a replica lagging over the limit, even with --force; an unknown lag only with --force', async () => {
    const lagging = fakeDb({
      replica: {
        role: 'replica',
        receiveLsn: '0/5000000',
        replayLsn: '0/4000000',
        lagSeconds: 42.5,
        lagBytes: 16_777_216,
        replayPaused: false,
        lastReplayAt: null,
        walReceiverStatus: null,
        senderHost: null,
        senderPort: null,
      },
    });
    for (const force of [false, true]) {
      const a = args({ force });
      const r = await failover.precheck(
        context(settingsSsh(), lagging.db),
        a,
        buildFailoverPlan(inventory, a),
      );
      expect(r).toEqual({
        ok: false,
        reason:
          'db-replica lags 42.5 s (limit 30 s): promoting it now would lose that much; wait for it to catch up',
      });
    }
    const unknown = fakeDb();
    (unknown.s.replica as { lagSeconds: number | null }).lagSeconds = null;
    const r = await failover.precheck(context(settingsSsh(), unknown.db), args(), plan);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/lag cannot be judged .*failover --force/);
  });

  it('refuses when an app host cannot be repointed: nothing is promoted', async () => {
    const ssh = settingsSsh({
      host: 'app-03',
      command: 'read-database-host',
      error: new SshUnreachableError('app-03', 'connect ECONNREFUSED 127.0.1.3:2222'),
    });
    const { db, s } = fakeDb();
    const r = await failover.precheck(context(ssh, db), args(), plan);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(
      /^not every app host can be repointed, so nothing was promoted: app-03: /,
    );
    expect(s.calls).not.toContain('promote(db-replica)');
    const twoLines = new FakeSsh((host, command) =>
      command === 'read-database-host'
        ? { stdout: host === 'app-02' ? 'DATABASE_HOST=a\nDATABASE_HOST=b\n' : 'DATABASE_HOST=127.0.2.1\n' }
        : {},
    );
    const r2 = await failover.precheck(context(twoLines, db), args(), plan);
    expect(r2).toEqual({
      ok: false,
      reason:
        'not every app host can be repointed, so nothing was promoted: app-02: /etc/qnwis/.env has 2 DATABASE_HOST lines, expected exactly 1',
    });
  });

  it('a replica promoted already is an interrupted failover: refused unless --force', async () => {
    const { db } = fakeDb({ replica: { role: 'primary', currentLsn: '0/9000000', standbys: [] } });
    const r = await failover.precheck(context(settingsSsh(), db), args(), plan);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain('was promoted already');
    const a = args({ force: true });
    const forced = await failover.precheck(context(settingsSsh(), db), a, buildFailoverPlan(inventory, a));
    expect(forced.ok).toBe(true);
  });
});

describe('a failover run', () => {
  const plan = buildFailoverPlan(inventory, args());

  it('stops at the first failed step: a repoint that fails leaves every later step skipped', async () => {
    const ssh = settingsSsh({
      host: 'app-01',
      command: 'write-database-host',
      error: new SshUnreachableError('app-01', 'connect ECONNREFUSED 127.0.1.1:2222'),
    });
    const { db, s } = fakeDb();
    const c = collect();
    const outcome = await failover.run(
      context(ssh, db),
      args(),
      plan,
      c.report,
      new AbortController().signal,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.steps.map((st) => `${st.stepId}:${st.status}`)).toEqual([
      'promote:done',
      'wait-writable:done',
      'repoint-app-01:failed',
      ...plan.steps.slice(3).map((st) => `${st.id}:skipped`),
    ]);
    expect(outcome.steps[0]?.detail).toBe('db-replica promoted in 120 ms');
    expect(outcome.steps[1]?.detail).toMatch(/^db-replica accepts writes \(write committed in 2 ms\) after /);
    expect(outcome.detail).toMatch(/^failed at step 3\/13 \(repoint-app-01\): /);
    expect(s.calls).toEqual(['promote(db-replica)', 'isInRecovery(db-replica)', 'probeWrite(db-replica)']);
    expect(outcome.observations).toMatchObject({ promoted: true, writable: true, settings: {} });
    expect(c.lines().slice(0, 6)).toEqual([
      'promote:running',
      'promote:done',
      'wait-writable:running',
      'wait-writable:done',
      'repoint-app-01:running',
      'repoint-app-01:failed',
    ]);
  });

  it('a restart that /health seems to pass but leaves the unit dead fails: a stray process holds the port', async () => {
    let restarted = false;
    const ssh = new FakeSsh((_host, command) => {
      if (command === 'write-database-host') return { stdout: 'before=127.0.2.1\nafter=127.0.2.2\n' };
      if (command === 'service-restart') restarted = true;
      if (command === 'service-main-pid') return { stdout: restarted ? '0\n' : '1234\n' };
      return {};
    });
    const stray = createFailoverCommand({
      restart: { probe: async () => ({ ok: true, status: 200, latencyMs: 1, body: { status: 'healthy' } }) },
    });
    const outcome = await stray.run(
      context(ssh, fakeDb().db),
      args(),
      plan,
      async () => {},
      new AbortController().signal,
    );
    expect(outcome.steps.slice(0, 5).map((st) => `${st.stepId}:${st.status}`)).toEqual([
      'promote:done',
      'wait-writable:done',
      'repoint-app-01:done',
      'restart-app-01:failed',
      'db-check-app-01:skipped',
    ]);
    expect(outcome.steps[3]?.detail).toMatch(
      /; but qnwis is not running on app-01 \(MainPID 0\): whatever answers \/health did not read the new setting$/,
    );
  });

  it('Cancel after the promotion stops before the next step; the thread sees what was done', async () => {
    const ssh = settingsSsh();
    const { db } = fakeDb();
    const ac = new AbortController();
    const c = collect();
    const outcome = await failover.run(
      context(ssh, db),
      args(),
      plan,
      async (p) => {
        await c.report(p);
        if (p.stepId === 'repoint-app-01' && p.status === 'done') ac.abort();
      },
      ac.signal,
    );
    expect(outcome.status).toBe('cancelled');
    expect(outcome.steps.filter((st) => st.status === 'done').map((st) => st.stepId)).toEqual([
      'promote',
      'wait-writable',
      'repoint-app-01',
    ]);
    expect(outcome.steps[2]?.detail).toBe('app-01: DATABASE_HOST 127.0.2.1 → 127.0.2.2 in /etc/qnwis/.env');
    expect(outcome.detail).toBe('cancelled before step 4/13 (restart-app-01); 3 steps done');
    expect(ssh.sent).toEqual(['app-01 write-database-host']);
    expect(outcome.observations).toMatchObject({
      settings: { 'app-01': { before: '127.0.2.1', after: '127.0.2.2' } },
    });
  });
});

describe('the settings-file templates', () => {
  it('parse what the templates print', () => {
    expect(parseDatabaseHostLines('DATABASE_HOST=127.0.2.1\n')).toEqual(['127.0.2.1']);
    expect(parseDatabaseHostLines('')).toEqual([]);
    expect(parseRewriteOutput('before=127.0.2.1\nafter=127.0.2.2\n')).toEqual({
      before: '127.0.2.1',
      after: '127.0.2.2',
      unchanged: false,
    });
    expect(parseRewriteOutput('before=x\nafter=x\nunchanged\n')).toEqual({
      before: 'x',
      after: 'x',
      unchanged: true,
    });
    expect(parseRewriteOutput('oops')).toBeUndefined();
  });

  it('refuse values that are no address or path: nothing is rendered', () => {
    for (const host of ['127.0.2.2; rm -rf /', '$(id)', '-oProxyCommand=x', 'a b', "x'y", 'h\\1']) {
      expect(() => renderRemoteScript(writeDatabaseHost, { file: '/etc/qnwis/.env', host })).toThrow(
        InvalidArgumentError,
      );
    }
    for (const file of ['etc/qnwis/.env', '/etc/../etc/shadow', '/etc/qnwis/.env; id']) {
      expect(() => renderRemoteScript(readDatabaseHost, { file })).toThrow(InvalidArgumentError);
    }
  });
});

describe('the settings-file rewrite on a real file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qnwis-failover-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, '.env');
  const ORIGINAL = [
    '# QNWIS application settings',
    'DATABASE_HOST=127.0.2.1',
    'DATABASE_PORT=5432',
    'DATABASE_PASSWORD=s3cret_-x',
    'DATABASE_HOST_FALLBACK=keep-me',
    '',
  ].join('\n');

  /** Runs the rendered script as the SSH adapter would have the host run it (sh -c), with the lab's sudo. */
  async function rewrite(host: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const script = renderRemoteScript(writeDatabaseHost, { file, host });
    try {
      const { stdout, stderr } = await execFileAsync('sh', ['-c', script], {
        env: { PATH: `${path.resolve('lab/shims')}:/usr/bin:/bin` },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('changes only the DATABASE_HOST line, by rename (a new inode), keeping the mode; again: unchanged', async () => {
    writeFileSync(file, ORIGINAL);
    chmodSync(file, 0o600);
    const inode = statSync(file).ino;
    const r = await rewrite('127.0.2.2');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(parseRewriteOutput(r.stdout)).toEqual({
      before: '127.0.2.1',
      after: '127.0.2.2',
      unchanged: false,
    });
    expect(readFileSync(file, 'utf8')).toBe(
      ORIGINAL.replace('DATABASE_HOST=127.0.2.1', 'DATABASE_HOST=127.0.2.2'),
    );
    expect(statSync(file).ino).not.toBe(inode);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['.env']);

    const again = await rewrite('127.0.2.2');
    expect(parseRewriteOutput(again.stdout)).toEqual({
      before: '127.0.2.2',
      after: '127.0.2.2',
      unchanged: true,
    });
  });

  it('refuses a file without the setting, or with it twice, and leaves it untouched', async () => {
    for (const text of ['DATABASE_PORT=5432\n', 'DATABASE_HOST=a\nDATABASE_HOST=b\n']) {
      writeFileSync(file, text);
      const r = await rewrite('127.0.2.2');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/has [02] DATABASE_HOST lines, expected exactly 1/);
      expect(readFileSync(file, 'utf8')).toBe(text);
      expect(readdirSync(dir)).toEqual(['.env']);
    }
    rmSync(file);
    const missing = await rewrite('127.0.2.2');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('does not exist');
  });
});
