/**
 * The command modules without hosts (issue 6, item 1): plans are plain JSON with the exact steps
 * and hash the same when nothing changed; Cancel stops between steps (the remaining ones are
 * reported skipped, nothing more is sent); restart's health gate fails at its deadline on a fake
 * clock (60 s gate, no real waiting); kill-query's precheck and run refuse a changed backend.
 * Fakes of the adapter ports (SSH, database) record what would be sent.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson, planHash } from '../../src/incidents/approvals.js';
import { type Host, parseInventory } from '../../src/inventory.js';
import type { HealthResult } from '../../src/ops/adapters/http.js';
import type { ActiveQuery, FleetDatabase, TerminateResult } from '../../src/ops/adapters/postgres.js';
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
  COMMAND_NAMES,
  type CommandArgs,
  parseCommand,
  requestFacts,
} from '../../src/ops/commands/catalog.js';
import {
  COMMAND_MODULES,
  type CommandContext,
  type CommandPlan,
  commandModule,
  createCommandContext,
  createKillQueryCommand,
  createRestartCommand,
  IMPLEMENTED_COMMANDS,
  isImplemented,
  killQuery,
  PlanRefusedError,
  restart,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

function args<N extends 'restart' | 'kill-query'>(name: N, raw: unknown): CommandArgs[N] {
  const r = parseCommand(name, raw, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.command.args as CommandArgs[N];
}

/** A clock that only moves when someone sleeps on it. */
function fakeClock(start = Date.parse('2026-03-01T10:00:00.000Z')) {
  let t = start;
  return {
    now: () => new Date(t),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (!signal?.aborted) t += Math.max(0, ms);
    },
    elapsedMs: () => t - start,
  };
}

/** Records every command (rendered with the real template renderer); answers per command name. */
class FakeSsh implements RemoteCommandRunner {
  readonly sent: string[] = [];
  private readonly answer: (command: string) => Partial<RemoteCommandResult>;
  constructor(answer: (command: string) => Partial<RemoteCommandResult>) {
    this.answer = answer;
  }
  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    renderRemoteCommand(command, a);
    this.sent.push(`${host.name} ${command.name}`);
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout: '',
      stderr: '',
      truncated: false,
      durationMs: 1,
      ...this.answer(command.name),
    };
  }
}

/** MainPID 1234 before the restart, 5678 after. */
function restartSsh(): FakeSsh {
  let restarted = false;
  return new FakeSsh((name) => {
    if (name === 'service-restart') restarted = true;
    if (name === 'service-main-pid') return { stdout: restarted ? '5678\n' : '1234\n' };
    if (name === 'service-is-active') return { stdout: 'active\n' };
    return {};
  });
}

interface FakeDb {
  active: Map<string, ActiveQuery[]>;
  terminate: (host: string, pid: number) => TerminateResult;
  calls: string[];
}

function fakeDb(active: Record<string, ActiveQuery[]> = {}): { db: FleetDatabase; fake: FakeDb } {
  const fake: FakeDb = {
    active: new Map(Object.entries(active)),
    terminate: (_host, pid) => ({ terminated: true, pid }),
    calls: [],
  };
  const db = {
    activeQueries: async (host: Host) => {
      fake.calls.push(`activeQueries(${host.name})`);
      return fake.active.get(host.name) ?? [];
    },
    terminateBackend: async (host: Host, pid: number, expect?: unknown) => {
      fake.calls.push(`terminateBackend(${host.name}, ${pid}, ${JSON.stringify(expect)})`);
      return fake.terminate(host.name, pid);
    },
  } as unknown as FleetDatabase;
  return { db, fake };
}

function context(opts: {
  ssh?: RemoteCommandRunner;
  db?: FleetDatabase;
  clock?: ReturnType<typeof fakeClock>;
}) {
  const clock = opts.clock ?? fakeClock();
  const ctx: CommandContext = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh: opts.ssh ?? restartSsh(),
      db: opts.db ?? fakeDb().db,
      cache: {} as FleetCache,
      adminToken: undefined,
      stepTimeoutMs: 1_000,
      now: clock.now,
    }),
    { sleep: clock.sleep },
  );
  return { ctx, clock };
}

const SLOW: ActiveQuery = {
  pid: 4242,
  user: 'qnwis_reports',
  database: 'qnwis_prod',
  applicationName: 'quarterly-report',
  clientAddr: '127.0.2.1',
  state: 'active',
  waitEventType: 'Timeout',
  ageMs: 125_400.4,
  query: 'SELECT pg_sleep(3600) /* quarterly sector report */',
  backendStart: '2026-03-01T09:57:54.000123Z',
  queryStart: '2026-03-01T09:57:54.600456Z',
};

const healthy: HealthResult = { ok: true, status: 200, latencyMs: 3, body: { status: 'healthy' } };
const unavailable: HealthResult = { ok: false, status: 503, latencyMs: 2, body: { status: 'starting' } };

function collect() {
  const progress: StepProgress[] = [];
  const report = async (p: StepProgress) => {
    progress.push(p);
  };
  const lines = () => progress.map((p) => `${p.stepId}:${p.status}`);
  return { progress, report, lines };
}

describe('the registry', () => {
  it('implements every catalog command, each under its catalog name', () => {
    expect([...IMPLEMENTED_COMMANDS].sort()).toEqual([...COMMAND_NAMES].sort());
    for (const name of IMPLEMENTED_COMMANDS) expect(COMMAND_MODULES[name].name).toBe(name);
    expect(commandModule('restart')).toBe(restart);
    expect(commandModule('kill-query')).toBe(killQuery);
    for (const name of COMMAND_NAMES) expect(isImplemented(name), name).toBe(true);
  });
});

describe('plans are plain JSON with the exact steps', () => {
  it('restart app-02: MainPID, systemctl restart, a 60 s health gate; 1 of 3 app hosts', async () => {
    const { ctx } = context({});
    const a = args('restart', { host: 'app-02' });
    const plan = await restart.plan(ctx, a);
    expect(plan).toEqual({
      command: 'restart',
      summary: 'restart app-02',
      steps: [
        {
          id: 'record-pid',
          host: 'app-02',
          kind: 'capture',
          description: 'Record the MainPID of qnwis on app-02 (systemctl show -p MainPID --value qnwis)',
          timeoutSec: 5,
        },
        {
          id: 'restart',
          host: 'app-02',
          kind: 'remote-command',
          description: 'sudo systemctl restart qnwis on app-02',
          timeoutSec: 60,
        },
        {
          id: 'health-gate',
          host: 'app-02',
          kind: 'health-gate',
          description: 'GET http://127.0.1.2:8000/health must answer 2xx within 60 s (polled every 1 s)',
          timeoutSec: 60,
        },
      ],
      blastRadius: '1 of 3 app hosts (app-02)',
      facts: {
        host: 'app-02',
        service: 'qnwis',
        unit: 'qnwis',
        healthUrl: 'http://127.0.1.2:8000/health',
        healthGateSec: 60,
        pollIntervalMs: 1000,
      },
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(() => canonicalJson(plan)).not.toThrow();
    // Planning reads nothing from the host, and the same request hashes the same.
    const again = await restart.plan(ctx, a);
    const facts = (p: CommandPlan) => {
      const parsed = parseCommand('restart', { host: 'app-02' }, inventory);
      if (!parsed.ok) throw new Error(parsed.error);
      return { ...requestFacts(parsed.command, inventory), command: 'restart', args: a, plan: p };
    };
    expect(planHash(facts(again))).toBe(planHash(facts(plan)));
    // A different gate is a different plan (approvals would start over).
    const longer = await createRestartCommand({ healthGateSec: 120 }).plan(ctx, a);
    expect(longer.steps[2]?.description).toContain('within 120 s');
    expect(planHash(facts(longer))).not.toBe(planHash(facts(plan)));
  });

  it('restart refuses to plan a host that is not an app host of the inventory', async () => {
    const { ctx } = context({});
    await expect(restart.plan(ctx, { host: 'db-primary' })).rejects.toThrow(PlanRefusedError);
    await expect(restart.plan(ctx, { host: 'app-09' })).rejects.toThrow(
      'restart: app-09 is not in the inventory',
    );
  });

  it('kill-query PID: the backend as seen (user, age, query, backendStart, queryStart), one guarded step', async () => {
    const { db, fake } = fakeDb({ 'db-primary': [SLOW] });
    const { ctx } = context({ db });
    const plan = await killQuery.plan(ctx, args('kill-query', { pid: '4242' }));
    expect(plan).toEqual({
      command: 'kill-query',
      summary: 'kill-query 4242',
      steps: [
        {
          id: 'terminate',
          host: 'db-primary',
          kind: 'sql',
          description:
            'SELECT pg_terminate_backend(4242) on db-primary, only if pid 4242 is still the session started ' +
            '2026-03-01T09:57:54.000123Z running the statement started 2026-03-01T09:57:54.600456Z: ' +
            'SELECT pg_sleep(3600) /* quarterly sector report */',
        },
      ],
      blastRadius:
        '1 database backend: pid 4242 on db-primary (qnwis_reports/quarterly-report, database qnwis_prod, ' +
        'running 2 min 5 s); its open transaction is rolled back and its client loses the connection',
      facts: {
        host: 'db-primary',
        pid: 4242,
        user: 'qnwis_reports',
        database: 'qnwis_prod',
        applicationName: 'quarterly-report',
        clientAddr: '127.0.2.1',
        ageMs: 125_400,
        waitEventType: 'Timeout',
        query: 'SELECT pg_sleep(3600) /* quarterly sector report */',
        backendStart: '2026-03-01T09:57:54.000123Z',
        queryStart: '2026-03-01T09:57:54.600456Z',
      },
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(() => canonicalJson(plan)).not.toThrow();
    // Both database hosts were looked at; nothing was terminated by planning.
    expect(fake.calls.sort()).toEqual(['activeQueries(db-primary)', 'activeQueries(db-replica)']);
  });

  it('kill-query refuses to plan a pid that runs no query, or one that two hosts have', async () => {
    const { ctx } = context({ db: fakeDb({ 'db-primary': [SLOW] }).db });
    await expect(killQuery.plan(ctx, { pid: 77 })).rejects.toThrow(
      'kill-query: pid 77 is not running a query on db-primary or db-replica: nothing to kill',
    );
    const both = context({ db: fakeDb({ 'db-primary': [SLOW], 'db-replica': [SLOW] }).db });
    await expect(killQuery.plan(both.ctx, { pid: 4242 })).rejects.toThrow(
      'pid 4242 runs a query on db-primary and db-replica',
    );
  });
});

describe('run: step by step, and Cancel stops between steps', () => {
  it('restart reports every step in order and records the MainPID for verification', async () => {
    const ssh = restartSsh();
    const { ctx } = context({ ssh });
    const mod = createRestartCommand({ probe: async () => healthy });
    const plan = await mod.plan(ctx, { host: 'app-02' });
    const { report, lines, progress } = collect();
    const outcome = await mod.run(ctx, { host: 'app-02' }, plan, report, new AbortController().signal);
    expect(lines()).toEqual([
      'record-pid:running',
      'record-pid:done',
      'restart:running',
      'restart:done',
      'health-gate:running',
      'health-gate:done',
    ]);
    expect(progress[1]?.detail).toBe('qnwis MainPID 1234');
    expect(progress[5]?.detail).toMatch(/^app-02: \/health HTTP 200 after \d+ ms \(attempt 1\)$/);
    expect(outcome).toMatchObject({ status: 'succeeded', detail: '3/3 steps done' });
    expect(outcome.observations).toEqual({ oldMainPid: 1234 });
    expect(ssh.sent).toEqual(['app-02 service-main-pid', 'app-02 service-restart']);
  });

  it('a Cancel after the first step: systemctl restart is never sent, the rest is skipped', async () => {
    const ssh = restartSsh();
    const { ctx } = context({ ssh });
    const mod = createRestartCommand({ probe: async () => healthy });
    const plan = await mod.plan(ctx, { host: 'app-02' });
    const cancel = new AbortController();
    const { progress, lines } = collect();
    const outcome = await mod.run(
      ctx,
      { host: 'app-02' },
      plan,
      async (p) => {
        progress.push(p);
        if (p.stepId === 'record-pid' && p.status === 'done') cancel.abort(); // the Cancel button
      },
      cancel.signal,
    );
    expect(lines()).toEqual([
      'record-pid:running',
      'record-pid:done',
      'restart:skipped',
      'health-gate:skipped',
    ]);
    expect(ssh.sent).toEqual(['app-02 service-main-pid']);
    expect(outcome.status).toBe('cancelled');
    expect(outcome.detail).toBe('cancelled before step 2/3 (restart); 1 step done');
    expect(outcome.steps.map((s) => s.status)).toEqual(['done', 'skipped', 'skipped']);
  });

  it('a Cancel while the health gate waits ends the wait (the restart itself already ran)', async () => {
    const ssh = restartSsh();
    const { ctx } = context({ ssh });
    const cancel = new AbortController();
    let probes = 0;
    const mod = createRestartCommand({
      probe: async () => {
        if (++probes === 3) cancel.abort();
        return unavailable;
      },
    });
    const plan = await mod.plan(ctx, { host: 'app-02' });
    const { report, lines, progress } = collect();
    const outcome = await mod.run(ctx, { host: 'app-02' }, plan, report, cancel.signal);
    expect(probes).toBe(3);
    expect(lines()).toEqual([
      'record-pid:running',
      'record-pid:done',
      'restart:running',
      'restart:done',
      'health-gate:running',
      'health-gate:skipped',
    ]);
    expect(progress.at(-1)?.detail).toBe(
      'cancelled while waiting for /health on app-02 (last: HTTP 503); the restart itself had already run',
    );
    expect(outcome.status).toBe('cancelled');
  });

  it('cancelled before it starts, kill-query sends nothing', async () => {
    const { db, fake } = fakeDb({ 'db-primary': [SLOW] });
    const { ctx } = context({ db });
    const plan = await killQuery.plan(ctx, { pid: 4242 });
    const cancel = new AbortController();
    cancel.abort();
    const { report, lines } = collect();
    const outcome = await killQuery.run(ctx, { pid: 4242 }, plan, report, cancel.signal);
    expect(lines()).toEqual(['terminate:skipped']);
    expect(outcome.status).toBe('cancelled');
    expect(fake.calls.filter((c) => c.startsWith('terminateBackend'))).toEqual([]);
  });

  it('a failing step stops the run; a progress reporter that throws does not', async () => {
    const ssh = new FakeSsh((name) => (name === 'service-main-pid' ? { stdout: 'n/a\n' } : {}));
    const { ctx } = context({ ssh });
    const plan = await restart.plan(ctx, { host: 'app-02' });
    const seen: string[] = [];
    const outcome = await restart.run(
      ctx,
      { host: 'app-02' },
      plan,
      async (p) => {
        seen.push(`${p.stepId}:${p.status}`);
        throw new Error('Slack is down');
      },
      new AbortController().signal,
    );
    expect(seen).toEqual([
      'record-pid:running',
      'record-pid:failed',
      'restart:skipped',
      'health-gate:skipped',
    ]);
    expect(outcome.status).toBe('failed');
    expect(outcome.detail).toBe('failed at step 1/3 (record-pid): unexpected MainPID output: n/a');
    expect(ssh.sent).toEqual(['app-02 service-main-pid']);
  });
});

describe("restart's health gate", () => {
  it('fails once the 60 s deadline passes on the fake clock (no real waiting)', async () => {
    const clock = fakeClock();
    const { ctx } = context({ clock });
    let probes = 0;
    const mod = createRestartCommand({
      probe: async () => {
        probes++;
        return unavailable;
      },
    });
    const plan = await mod.plan(ctx, { host: 'app-02' });
    const { report, progress } = collect();
    const started = performance.now();
    const outcome = await mod.run(ctx, { host: 'app-02' }, plan, report, new AbortController().signal);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(clock.elapsedMs()).toBe(60_000);
    expect(probes).toBe(61); // at 0 s, every second, and at the deadline
    expect(outcome.status).toBe('failed');
    expect(outcome.steps.map((s) => `${s.stepId}:${s.status}`)).toEqual([
      'record-pid:done',
      'restart:done',
      'health-gate:failed',
    ]);
    expect(progress.at(-1)).toEqual({
      stepId: 'health-gate',
      status: 'failed',
      detail: 'app-02: /health did not pass within 60 s (61 attempts; last: HTTP 503)',
    });
  });

  it('passes as soon as /health answers 2xx within the gate; the gate is configurable', async () => {
    const clock = fakeClock();
    const { ctx } = context({ clock });
    let probes = 0;
    const mod = createRestartCommand({
      healthGateSec: 10,
      pollIntervalMs: 500,
      probe: async () => (++probes < 5 ? unavailable : healthy),
    });
    const plan = await mod.plan(ctx, { host: 'app-01' });
    expect(plan.steps[2]?.description).toBe(
      'GET http://127.0.1.1:8000/health must answer 2xx within 10 s (polled every 500 ms)',
    );
    const { report, progress } = collect();
    const outcome = await mod.run(ctx, { host: 'app-01' }, plan, report, new AbortController().signal);
    expect(outcome.status).toBe('succeeded');
    expect(clock.elapsedMs()).toBe(2_000);
    expect(progress.at(-1)?.detail).toBe('app-01: /health HTTP 200 after 2 s (attempt 5)');
  });

  it('an unreachable app counts as not healthy, with the reason', async () => {
    const { ctx } = context({});
    const mod = createRestartCommand({
      healthGateSec: 1,
      probe: async () => ({
        ok: false,
        status: null,
        latencyMs: 1,
        error: {
          code: 'http_unreachable',
          message: 'http://127.0.1.2:8000/health is unreachable: ECONNREFUSED',
        },
      }),
    });
    const plan = await mod.plan(ctx, { host: 'app-02' });
    const outcome = await mod.run(
      ctx,
      { host: 'app-02' },
      plan,
      async () => {},
      new AbortController().signal,
    );
    expect(outcome.steps[2]?.detail).toBe(
      'app-02: /health did not pass within 1 s (2 attempts; last: unreachable: ECONNREFUSED)',
    );
  });
});

describe('kill-query: the pid must still be that backend running that statement', () => {
  async function planned() {
    const { db, fake } = fakeDb({ 'db-primary': [SLOW] });
    const { ctx, clock } = context({ db });
    const plan = await killQuery.plan(ctx, { pid: 4242 });
    return { ctx, clock, fake, plan };
  }

  it('precheck passes while nothing changed', async () => {
    const { ctx, plan } = await planned();
    expect(await killQuery.precheck(ctx, { pid: 4242 }, plan)).toEqual({
      ok: true,
      detail: 'pid 4242 on db-primary still runs the approved statement (for 2 min 5 s)',
    });
  });

  it('precheck refuses when the statement finished, the session changed, or another statement runs', async () => {
    const { ctx, fake, plan } = await planned();
    fake.active.set('db-primary', []);
    expect(await killQuery.precheck(ctx, { pid: 4242 }, plan)).toEqual({
      ok: false,
      reason:
        'pid 4242 is no longer running a query on db-primary (the statement finished or the session ended): nothing to kill',
    });
    fake.active.set('db-primary', [{ ...SLOW, backendStart: '2026-03-01T10:01:00.000000Z' }]);
    expect(await killQuery.precheck(ctx, { pid: 4242 }, plan)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('now belongs to another session'),
    });
    fake.active.set('db-primary', [
      { ...SLOW, queryStart: '2026-03-01T10:01:00.000000Z', query: 'SELECT count(*) FROM employment' },
    ]);
    expect(await killQuery.precheck(ctx, { pid: 4242 }, plan)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('now runs another statement (started 2026-03-01T10:01:00.000000Z'),
    });
    expect(await killQuery.precheck(ctx, { pid: 99 }, plan)).toEqual({
      ok: false,
      reason: 'the plan is for pid 4242, the request for 99',
    });
  });

  it('run hands the planned identity to terminateBackend and reports its refusal', async () => {
    const { ctx, fake, plan } = await planned();
    fake.terminate = (_h, pid) => ({
      terminated: false,
      pid,
      reason: 'changed',
      current: {
        state: 'active',
        query: 'SELECT 1',
        queryStart: '2026-03-01T10:02:00.000000Z',
        backendStart: SLOW.backendStart,
      },
    });
    const { report, progress } = collect();
    const outcome = await killQuery.run(ctx, { pid: 4242 }, plan, report, new AbortController().signal);
    expect(fake.calls.at(-1)).toBe(
      `terminateBackend(db-primary, 4242, ${JSON.stringify({
        backendStart: SLOW.backendStart,
        queryStart: SLOW.queryStart,
        query: SLOW.query,
      })})`,
    );
    expect(outcome.status).toBe('failed');
    expect(progress.at(-1)).toEqual({
      stepId: 'terminate',
      status: 'failed',
      detail:
        'pid 4242 on db-primary is no longer the approved backend and statement (now: session started ' +
        '2026-03-01T09:57:54.000123Z, statement started 2026-03-01T10:02:00.000000Z): refused, nothing was terminated',
    });
  });

  it('verify waits (on the clock) until pg-active-queries no longer lists the backend', async () => {
    const { ctx, clock, plan } = await planned();
    const outcome = await killQuery.run(
      ctx,
      { pid: 4242 },
      plan,
      async () => {},
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ status: 'succeeded', observations: { terminated: true } });
    // Still listed for the first two looks, as a backend that is exiting.
    let looks = 0;
    const db = ctx.db as unknown as { activeQueries: (h: Host) => Promise<ActiveQuery[]> };
    db.activeQueries = async () => (++looks <= 2 ? [SLOW] : []);
    const v = await killQuery.verify(ctx, { pid: 4242 }, plan, outcome);
    expect(v).toMatchObject({
      ok: true,
      detail: "pid 4242 is gone from pg_stat_activity's active queries on db-primary",
      after: 'db-primary: no query active for more than 0 ms',
    });
    expect(v.before).toMatch(/^pid 4242 on db-primary \(qnwis_reports\/quarterly-report, .*pg_sleep\(3600\)/);
    expect(clock.elapsedMs()).toBe(500);
    expect(v.evidence[0]?.diagnostic).toBe('pg-active-queries');
  });

  it('verify fails when the backend is still there after the wait', async () => {
    const { ctx, clock, plan } = await planned();
    const mod = createKillQueryCommand({ verifyWaitMs: 2_000 });
    const v = await mod.verify(ctx, { pid: 4242 }, plan, {
      status: 'succeeded',
      steps: [],
      detail: '',
      observations: {},
    });
    expect(v.ok).toBe(false);
    expect(v.detail).toBe('pid 4242 is still running on db-primary 2 s later');
    expect(clock.elapsedMs()).toBe(2_000);
  });
});
