/**
 * restart-redis without hosts: the plan's blast radius follows the host's replication role (the
 * primary's restart leaves the whole app fleet's cache cold; a replica only re-syncs; a host that
 * does not answer is planned with its role unknown), the PING gate fails at its deadline on a fake
 * clock, and the precheck refuses when the role changed since the plan. Fakes of the SSH and cache
 * ports record what would be sent.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CacheUnreachableError } from '../../src/errors.js';
import { canonicalJson } from '../../src/incidents/approvals.js';
import { type Host, parseInventory } from '../../src/inventory.js';
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
  type CommandContext,
  commandModule,
  createCommandContext,
  createRestartRedisCommand,
  PlanRefusedError,
  restartRedis,
  type StepProgress,
} from '../../src/ops/commands/index.js';
import { createDiagnosticContext } from '../../src/ops/diagnostics/index.js';

const inventory = parseInventory(readFileSync('lab/inventory.yaml', 'utf8'), 'lab/inventory.yaml');

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

/** redis-01 primary of redis-02 unless told otherwise; MainPID changes on restart. */
class FakeRedisFleet implements RemoteCommandRunner {
  readonly sent: string[] = [];
  readonly pids = new Map([
    ['redis-01', 501],
    ['redis-02', 602],
  ]);
  roles = new Map<string, 'master' | 'slave'>([
    ['redis-01', 'master'],
    ['redis-02', 'slave'],
  ]);
  /** Hosts whose PING (and INFO) fail. */
  silent = new Set<string>();
  keys = new Map([
    ['redis-01', 42],
    ['redis-02', 42],
  ]);

  async run<S extends RemoteArgsShape>(
    host: Host,
    command: RemoteCommand<S>,
    a: RemoteCommandArgs<S>,
  ): Promise<RemoteCommandResult> {
    renderRemoteCommand(command, a);
    this.sent.push(`${host.name} ${command.name}`);
    if (command.name === 'service-restart') {
      this.pids.set(host.name, (this.pids.get(host.name) ?? 0) + 1000);
      this.keys.set(host.name, 0);
    }
    const stdout =
      command.name === 'service-main-pid'
        ? `${this.pids.get(host.name)}\n`
        : command.name === 'service-is-active'
          ? 'active\n'
          : '';
    return {
      host: host.name,
      command: command.name,
      exitCode: 0,
      signal: null,
      stdout,
      stderr: '',
      truncated: false,
      durationMs: 1,
    };
  }

  readonly cache = {
    info: async (host: Host, section?: string): Promise<Record<string, string>> => {
      this.sent.push(`${host.name} INFO ${section ?? ''}`);
      if (this.silent.has(host.name)) throw new CacheUnreachableError(host.name, 'connect ECONNREFUSED');
      if (section === 'keyspace') {
        const n = this.keys.get(host.name) ?? 0;
        return n === 0 ? {} : { db0: `keys=${n},expires=${n},avg_ttl=30000` };
      }
      return this.roles.get(host.name) === 'master'
        ? {
            role: 'master',
            connected_slaves: '1',
            // As in the lab: the replica connects from 127.0.0.1, not from its inventory address.
            slave0: 'ip=127.0.0.1,port=6379,state=online,offset=1,lag=0',
          }
        : { role: 'slave', master_host: '127.0.3.1', master_port: '6379', master_link_status: 'up' };
    },
    ping: async (host: Host) => {
      this.sent.push(`${host.name} PING`);
      if (this.silent.has(host.name)) throw new CacheUnreachableError(host.name, 'connect ECONNREFUSED');
      return { latencyMs: 1 };
    },
  } as unknown as FleetCache;
}

function context(fleet: FakeRedisFleet, clock = fakeClock()) {
  const ctx: CommandContext = createCommandContext(
    createDiagnosticContext({
      inventory,
      ssh: fleet,
      db: {} as FleetDatabase,
      cache: fleet.cache,
      adminToken: undefined,
      stepTimeoutMs: 1_000,
      now: clock.now,
    }),
    { sleep: clock.sleep },
  );
  return { ctx, clock };
}

describe('restart-redis plan', () => {
  it('is registered under its catalog name', () => {
    expect(commandModule('restart-redis')).toBe(restartRedis);
  });

  it('the primary: MainPID and keys, systemctl restart, a PING gate; the whole app fleet’s cache is cold', async () => {
    const fleet = new FakeRedisFleet();
    const { ctx } = context(fleet);
    const plan = await restartRedis.plan(ctx, { host: 'redis-01' });
    expect(plan).toEqual({
      command: 'restart-redis',
      summary: 'restart-redis redis-01 (primary)',
      steps: [
        {
          id: 'record-pid',
          host: 'redis-01',
          kind: 'capture',
          description:
            'Record the MainPID of redis on redis-01 (systemctl show -p MainPID --value redis) and its key count (INFO keyspace)',
          timeoutSec: 5,
        },
        {
          id: 'restart',
          host: 'redis-01',
          kind: 'remote-command',
          description: 'sudo systemctl restart redis on redis-01',
          timeoutSec: 60,
        },
        {
          id: 'ping-gate',
          host: 'redis-01',
          kind: 'health-gate',
          description: 'PING 127.0.3.1:6379 must answer PONG within 30 s (tried every 500 ms)',
          timeoutSec: 30,
        },
      ],
      blastRadius:
        'redis-01 is the cache primary: the cache of all 3 app hosts is unavailable while it restarts and cold ' +
        'afterwards (a Redis without persistence comes back empty); its replica redis-02 re-syncs from it',
      facts: {
        host: 'redis-01',
        service: 'redis',
        unit: 'redis',
        endpoint: '127.0.3.1:6379',
        role: 'primary',
        replicas: ['redis-02'],
        primary: null,
        appHosts: 3,
        pingGateSec: 30,
        pollIntervalMs: 500,
      },
    });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(() => canonicalJson(plan)).not.toThrow();
    // Planning only read INFO (its replicas are the redis hosts that name it their master).
    expect(fleet.sent).toEqual(['redis-01 INFO replication', 'redis-02 INFO replication']);
  });

  it('a replica only re-syncs; a silent host is planned with its role unknown', async () => {
    const fleet = new FakeRedisFleet();
    const { ctx } = context(fleet);
    const replica = await restartRedis.plan(ctx, { host: 'redis-02' });
    expect(replica.facts).toMatchObject({ role: 'replica', primary: 'redis-01', replicas: [] });
    expect(replica.blastRadius).toBe(
      'redis-02 is a replica of redis-01: the app fleet keeps its cache on the primary; redis-02 is unavailable until it has re-synced',
    );
    fleet.silent.add('redis-01');
    const silent = await restartRedis.plan(ctx, { host: 'redis-01' });
    expect(silent.summary).toBe('restart-redis redis-01 (role unknown)');
    expect(silent.blastRadius).toBe(
      'redis-01 did not answer, its role is unknown: if it is the cache primary, the cache of all 3 app hosts is cold for a moment after the restart',
    );
  });

  it('refuses a host that is not a redis host', async () => {
    const { ctx } = context(new FakeRedisFleet());
    await expect(restartRedis.plan(ctx, { host: 'app-01' })).rejects.toThrow(PlanRefusedError);
    await expect(restartRedis.plan(ctx, { host: 'app-01' })).rejects.toThrow(
      'restart-redis: app-01 is not a redis host (roles: app)',
    );
  });
});

describe('restart-redis run and precheck (fake clock)', () => {
  it('runs in order and records MainPID and keys before and after', async () => {
    const fleet = new FakeRedisFleet();
    const { ctx } = context(fleet);
    const plan = await restartRedis.plan(ctx, { host: 'redis-01' });
    const progress: StepProgress[] = [];
    const outcome = await restartRedis.run(
      ctx,
      { host: 'redis-01' },
      plan,
      async (p) => {
        progress.push(p);
      },
      new AbortController().signal,
    );
    expect(outcome.status).toBe('succeeded');
    expect(progress.filter((p) => p.status !== 'running').map((p) => p.detail)).toEqual([
      'redis MainPID 501; 42 keys',
      'systemctl restart redis returned after 0 ms',
      'redis-01: PONG in 1 ms, 0 ms after the restart (attempt 1); 0 keys now',
    ]);
    expect(outcome.observations).toEqual({ oldMainPid: 501, keysBefore: 42, keysAfter: 0 });
  });

  it('the PING gate fails at its deadline when Redis does not come back', async () => {
    const fleet = new FakeRedisFleet();
    const { ctx, clock } = context(fleet);
    const mod = createRestartRedisCommand({ pingGateSec: 10, pollIntervalMs: 1_000 });
    const plan = await mod.plan(ctx, { host: 'redis-02' });
    fleet.silent.add('redis-02');
    const outcome = await mod.run(
      ctx,
      { host: 'redis-02' },
      plan,
      async () => {},
      new AbortController().signal,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.detail).toBe(
      'failed at step 3/3 (ping-gate): redis-02: PING did not answer PONG within 10 s (11 attempts; ' +
        'last: redis on host "redis-02" is unreachable: connect ECONNREFUSED)',
    );
    expect(clock.elapsedMs()).toBe(10_000);
  });

  it('precheck refuses when the role changed since the plan (a failover in between)', async () => {
    const fleet = new FakeRedisFleet();
    const { ctx } = context(fleet);
    const plan = await restartRedis.plan(ctx, { host: 'redis-02' });
    expect(await restartRedis.precheck(ctx, { host: 'redis-02' }, plan)).toEqual({
      ok: true,
      detail: 'redis-02 answers over SSH; redis is active; replica',
    });
    fleet.roles.set('redis-02', 'master');
    expect(await restartRedis.precheck(ctx, { host: 'redis-02' }, plan)).toEqual({
      ok: false,
      reason:
        'redis-02 is now a primary, the plan was made for a replica (a failover in between?): the blast radius differs, plan again',
    });
  });
});
