/**
 * `restart-redis HOST` — runbook "Restarting Services": `sudo systemctl restart redis` on one redis
 * host, then PING must answer PONG within the gate (default 30 s).
 *
 * - plan: the unit comes from the inventory's service for the redis role; the host's replication
 *   role (INFO replication, read once) sets the blast radius: restarting the primary leaves the
 *   whole app fleet without its cache for a moment and cold afterwards (a Redis without
 *   persistence comes back empty, and its replicas re-sync to that); a replica only re-syncs. A
 *   host that does not answer is planned with its role unknown (restarting it may be the fix).
 * - precheck: the host is still a redis host of the inventory with the same unit, answers over SSH
 *   (the `service-status` diagnostic), and has not changed role since the plan (a failover in
 *   between changes the blast radius: plan again).
 * - run: MainPID and key count, `systemctl restart`, then PING every 500 ms through the cache
 *   adapter until PONG or the gate expires; the key count right after. Cancel stops between steps
 *   and while the gate waits.
 * - verify: a new MainPID (≠ the one before, not 0) and the `redis-stats` diagnostic ok on the host
 *   (and, after a primary's restart, on its replicas: their link is up again), polled briefly while
 *   replication reconnects. The hit rate is not judged: right after a restart it only says the
 *   cache is cold, which the plan announced. Keys before and after are reported as seen.
 */
import type { Host, Inventory, Service } from '../../inventory.js';
import { hostsWithRole } from '../../inventory.js';
import { parseInfoValueList } from '../adapters/redis.js';
import { formatDuration, oneLine, resolveService } from '../diagnostics/common.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import { judgeRedis, type RedisStatsData } from '../diagnostics/redis-stats.js';
import type { ServiceStatusData } from '../diagnostics/service-status.js';
import { serviceMainPid, serviceRestart } from '../host-commands.js';
import type { CommandArgs } from './catalog.js';
import { parseMainPid } from './restart.js';
import { errorText, runSteps, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type RestartRedisArgs = CommandArgs['restart-redis'];

export type RedisRole = 'primary' | 'replica' | 'unknown';

export type RestartRedisFacts = {
  readonly host: string;
  /** Inventory service restarted (the one of the redis role: redis). */
  readonly service: string;
  readonly unit: string;
  /** `host:port` PINGed by the gate. */
  readonly endpoint: string;
  /** Replication role when the plan was made. */
  readonly role: RedisRole;
  /** A primary's replicas (inventory names, else their address). */
  readonly replicas: readonly string[];
  /** A replica's primary (inventory name, else its address). */
  readonly primary: string | null;
  /** App hosts in the inventory (whose cache this is). */
  readonly appHosts: number;
  readonly pingGateSec: number;
  readonly pollIntervalMs: number;
};

export type RestartRedisPlan = CommandPlan<RestartRedisFacts>;

export interface RestartRedisOptions {
  /** Seconds PING has to answer PONG after the restart (default 30). */
  readonly pingGateSec?: number;
  /** Pause between PINGs (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** How long verification waits for the diagnostic to come out ok (default 15000 ms). */
  readonly verifyWaitMs?: number;
  /** Pause between verification attempts (default 1000 ms). */
  readonly verifyPollMs?: number;
}

export const DEFAULT_PING_GATE_SEC = 30;
const NAME = 'restart-redis';

function redisHost(inv: Inventory, name: string): Host | string {
  const host = inv.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.includes('redis')) return `${name} is not a redis host (roles: ${host.roles.join(', ')})`;
  return host;
}

function redisService(inv: Inventory, host: Host): Service {
  return resolveService(inv, host, undefined, (s) => s.roles.includes('redis'), 'redis service');
}

/** Inventory name of the redis host at `address`, else the address itself. */
function nameOf(inv: Inventory, address: string): string {
  return hostsWithRole(inv, 'redis').find((h) => h.address === address)?.name ?? address;
}

/**
 * INFO replication → role and peers; a host that does not answer has role unknown. A primary's
 * replicas are the inventory's redis hosts that call it their master: the primary's own list
 * shows the address each replica connected from, which need not be the one the inventory knows.
 */
async function replication(
  ctx: CommandContext,
  host: Host,
): Promise<Pick<RestartRedisFacts, 'role' | 'replicas' | 'primary'> & { error?: string }> {
  try {
    const info = await ctx.cache.info(host, 'replication');
    if (info.role === 'slave') {
      const primary = info.master_host ? nameOf(ctx.inventory, info.master_host) : null;
      return { role: 'replica', replicas: [], primary };
    }
    if (info.role === 'master') {
      const others = hostsWithRole(ctx.inventory, 'redis').filter((h) => h.name !== host.name);
      const theirs = await Promise.all(
        others.map((h) => ctx.cache.info(h, 'replication').catch(() => ({}) as Record<string, string>)),
      );
      const replicas = others
        .filter((_, i) => theirs[i]?.role === 'slave' && theirs[i]?.master_host === host.address)
        .map((h) => h.name);
      return { role: 'primary', replicas, primary: null };
    }
    return { role: 'unknown', replicas: [], primary: null, error: `INFO role is "${info.role ?? ''}"` };
  } catch (err) {
    return { role: 'unknown', replicas: [], primary: null, error: errorText(err) };
  }
}

/** Keys in the inventory's cache db (INFO keyspace), or null when it cannot be read. */
async function keyCount(ctx: CommandContext, host: Host): Promise<number | null> {
  try {
    const info = await ctx.cache.info(host, 'keyspace');
    const db = info[`db${ctx.inventory.cache.db}`];
    if (db === undefined) return 0;
    const keys = Number(parseInfoValueList(db).keys);
    return Number.isSafeInteger(keys) ? keys : null;
  } catch {
    return null;
  }
}

function blastRadius(f: Omit<RestartRedisFacts, 'pingGateSec' | 'pollIntervalMs'>): string {
  const apps = `all ${f.appHosts} app host${f.appHosts === 1 ? '' : 's'}`;
  const replicas =
    f.replicas.length === 0
      ? 'no replica'
      : `its replica${f.replicas.length === 1 ? '' : 's'} ${f.replicas.join(', ')} re-sync${f.replicas.length === 1 ? 's' : ''} from it`;
  switch (f.role) {
    case 'primary':
      return (
        `${f.host} is the cache primary: the cache of ${apps} is unavailable while it restarts and cold ` +
        `afterwards (a Redis without persistence comes back empty); ${replicas}`
      );
    case 'replica':
      return (
        `${f.host} is a replica of ${f.primary ?? 'an unknown primary'}: the app fleet keeps its cache on the ` +
        `primary; ${f.host} is unavailable until it has re-synced`
      );
    case 'unknown':
      return (
        `${f.host} did not answer, its role is unknown: if it is the cache primary, the cache of ${apps} ` +
        'is cold for a moment after the restart'
      );
  }
}

export function createRestartRedisCommand(
  opts: RestartRedisOptions = {},
): CommandModule<RestartRedisArgs, RestartRedisFacts> {
  const pingGateSec = opts.pingGateSec ?? DEFAULT_PING_GATE_SEC;
  const pollIntervalMs = opts.pollIntervalMs ?? 500;
  const verifyWaitMs = opts.verifyWaitMs ?? 15_000;
  const verifyPollMs = opts.verifyPollMs ?? 1_000;
  if (!Number.isInteger(pingGateSec) || pingGateSec < 1 || pingGateSec > 3600)
    throw new RangeError('pingGateSec must be a whole number of seconds, 1..3600');
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 10 || pollIntervalMs > 60_000)
    throw new RangeError('pollIntervalMs must be 10..60000');

  /** PING until PONG or the gate expires (on the context's clock). */
  async function pingGate(
    ctx: CommandContext,
    f: RestartRedisFacts,
    host: Host,
    signal: AbortSignal,
  ): Promise<StepResult> {
    const started = ctx.now().getTime();
    const deadline = started + f.pingGateSec * 1000;
    let attempts = 0;
    for (;;) {
      let last: string;
      try {
        const { latencyMs } = await ctx.cache.ping(host);
        attempts++;
        const now = ctx.now().getTime();
        return {
          status: 'done',
          detail: `${f.host}: PONG in ${latencyMs} ms, ${formatDuration(now - started)} after the restart (attempt ${attempts})`,
        };
      } catch (err) {
        attempts++;
        last = errorText(err);
      }
      const now = ctx.now().getTime();
      if (now >= deadline) {
        return {
          status: 'failed',
          detail: oneLine(
            `${f.host}: PING did not answer PONG within ${f.pingGateSec} s (${attempts} attempt${attempts === 1 ? '' : 's'}; last: ${last})`,
            500,
          ),
        };
      }
      const cancelled = (): StepResult => ({
        status: 'cancelled',
        detail: `cancelled while waiting for PONG from ${f.host} (last: ${oneLine(last, 160)}); the restart itself had already run`,
      });
      if (signal.aborted) return cancelled();
      await ctx.sleep(Math.min(f.pollIntervalMs, deadline - now), signal);
      if (signal.aborted) return cancelled();
    }
  }

  /** redis-stats on each host, judged without the hit rate; the problems, per host, if any. */
  async function replicationCheck(
    ctx: CommandContext,
    hosts: readonly string[],
  ): Promise<{ results: DiagnosticResult[]; problems: string[] }> {
    const results = await runDiagnostics(
      ctx,
      hosts.map((h) => ({ diagnostic: 'redis-stats', target: h, input: { sampleMs: 0 } })),
    );
    const problems: string[] = [];
    for (const [i, r] of results.entries()) {
      const data = r.data as RedisStatsData | undefined;
      if (!data) {
        problems.push(`${hosts[i]}: ${r.summary}`);
        continue;
      }
      // A restarted cache's hit rate only says it is cold, which the plan announced.
      const j = judgeRedis({ ...data, hitRate: null }, undefined);
      if (j.status !== 'ok') problems.push(`${hosts[i]}: ${j.problems.join('; ')}`);
    }
    return { results, problems };
  }

  return {
    name: NAME,

    async plan(ctx, args) {
      const host = redisHost(ctx.inventory, args.host);
      if (typeof host === 'string') throw new PlanRefusedError(NAME, host);
      let service: Service;
      try {
        service = redisService(ctx.inventory, host);
      } catch (err) {
        throw new PlanRefusedError(NAME, errorText(err));
      }
      const { error: _ignored, ...repl } = await replication(ctx, host);
      const endpoint = `${host.address}:${ctx.inventory.cache.port}`;
      const base = {
        host: host.name,
        service: service.name,
        unit: service.unit,
        endpoint,
        ...repl,
        appHosts: hostsWithRole(ctx.inventory, 'app').length,
      };
      const facts: RestartRedisFacts = { ...base, pingGateSec, pollIntervalMs };
      return {
        command: NAME,
        summary: `restart-redis ${host.name} (${repl.role === 'unknown' ? 'role unknown' : repl.role})`,
        steps: [
          {
            id: 'record-pid',
            host: host.name,
            kind: 'capture',
            description: `Record the MainPID of ${service.unit} on ${host.name} (systemctl show -p MainPID --value ${service.unit}) and its key count (INFO keyspace)`,
            timeoutSec: serviceMainPid.timeoutSec,
          },
          {
            id: 'restart',
            host: host.name,
            kind: 'remote-command',
            description: `sudo systemctl restart ${service.unit} on ${host.name}`,
            timeoutSec: serviceRestart.timeoutSec,
          },
          {
            id: 'ping-gate',
            host: host.name,
            kind: 'health-gate',
            description: `PING ${endpoint} must answer PONG within ${pingGateSec} s (tried every ${formatDuration(pollIntervalMs)})`,
            timeoutSec: pingGateSec,
          },
        ],
        blastRadius: blastRadius(base),
        facts,
      };
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.host !== args.host)
        return { ok: false, reason: `the plan is for ${f.host}, the request for ${args.host}` };
      const host = redisHost(ctx.inventory, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      let service: Service;
      try {
        service = redisService(ctx.inventory, host);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      if (service.name !== f.service || service.unit !== f.unit) {
        return {
          ok: false,
          reason: `the inventory changed since the plan (${f.service}/${f.unit} → ${service.name}/${service.unit}): plan again`,
        };
      }
      const [[status], now] = await Promise.all([
        runDiagnostics(ctx, [
          { diagnostic: 'service-status', target: f.host, input: { service: f.service } },
        ]),
        replication(ctx, host),
      ]);
      const data = status?.data as ServiceStatusData | undefined;
      if (!status || !data) {
        return {
          ok: false,
          reason: `${f.host} cannot be reached: ${status?.summary ?? 'service-status gave no result'}`,
        };
      }
      if (data.exitCode === 4)
        return { ok: false, reason: `${f.host} has no unit ${f.unit} (systemctl exit 4)` };
      if (f.role !== 'unknown' && now.role !== 'unknown' && now.role !== f.role) {
        return {
          ok: false,
          reason: `${f.host} is now a ${now.role}, the plan was made for a ${f.role} (a failover in between?): the blast radius differs, plan again`,
        };
      }
      const role = now.role === 'unknown' ? `role unknown (${now.error ?? 'no answer'})` : now.role;
      return { ok: true, detail: `${f.host} answers over SSH; ${f.unit} is ${data.state}; ${role}` };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      let oldMainPid: number | null = null;
      let keysBefore: number | null = null;
      let keysAfter: number | null = null;
      const host = (): Host => {
        const h = redisHost(ctx.inventory, f.host);
        if (typeof h === 'string') throw new PlanRefusedError(NAME, h);
        return h;
      };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ oldMainPid, keysBefore, keysAfter }),
        handlers: {
          'record-pid': async () => {
            const [r, keys] = await Promise.all([
              ctx.ssh.run(host(), serviceMainPid, { unit: f.unit }),
              keyCount(ctx, host()),
            ]);
            const pid = parseMainPid(r.stdout);
            if (pid === undefined)
              return { status: 'failed', detail: `unexpected MainPID output: ${oneLine(r.stdout, 80)}` };
            oldMainPid = pid;
            keysBefore = keys;
            const keyText = keys === null ? 'key count unknown' : `${keys} key${keys === 1 ? '' : 's'}`;
            return {
              status: 'done',
              detail: `${pid === 0 ? `${f.unit} is not running (MainPID 0)` : `${f.unit} MainPID ${pid}`}; ${keyText}`,
            };
          },
          restart: async () => {
            const started = ctx.now().getTime();
            await ctx.ssh.run(host(), serviceRestart, { unit: f.unit });
            return {
              status: 'done',
              detail: `systemctl restart ${f.unit} returned after ${formatDuration(ctx.now().getTime() - started)}`,
            };
          },
          'ping-gate': async (s) => {
            const r = await pingGate(ctx, f, host(), s);
            if (r.status !== 'done') return r;
            keysAfter = await keyCount(ctx, host());
            return {
              status: 'done',
              detail: `${r.detail}; ${keysAfter === null ? 'key count unknown' : `${keysAfter} key${keysAfter === 1 ? '' : 's'} now`}`,
            };
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
      const oldPid = num(outcome.observations.oldMainPid);
      const keysBefore = num(outcome.observations.keysBefore);
      const keysAfter = num(outcome.observations.keysAfter);
      const h = redisHost(ctx.inventory, f.host);
      const readPid = async (): Promise<number | string> => {
        if (typeof h === 'string') return h;
        try {
          const pid = parseMainPid((await ctx.ssh.run(h, serviceMainPid, { unit: f.unit })).stdout);
          return pid ?? 'unexpected MainPID output';
        } catch (err) {
          return errorText(err);
        }
      };
      // After a primary's restart its replicas reconnect and re-sync: they are part of the check.
      const checked = [
        f.host,
        ...(f.role === 'primary' ? f.replicas.filter((r) => ctx.inventory.hosts.has(r)) : []),
      ];
      const deadline = ctx.now().getTime() + verifyWaitMs;
      let check = await replicationCheck(ctx, checked);
      while (check.problems.length > 0 && ctx.now().getTime() < deadline) {
        await ctx.sleep(verifyPollMs);
        check = await replicationCheck(ctx, checked);
      }
      const newPid = await readPid();

      const problems: string[] = [];
      if (typeof newPid === 'string') problems.push(`MainPID could not be read: ${newPid}`);
      else if (newPid === 0) problems.push(`${f.unit} is not running (MainPID 0)`);
      else if (oldPid === undefined) problems.push('the MainPID before the restart was not recorded');
      else if (newPid === oldPid) problems.push(`MainPID is still ${oldPid}: the process was not replaced`);
      problems.push(...check.problems);

      const keys = (n: number | undefined) => (n === undefined ? 'unknown' : String(n));
      const keyStory =
        keysBefore === undefined || keysAfter === undefined
          ? `keys before ${keys(keysBefore)}, after ${keys(keysAfter)}`
          : keysBefore > 0 && keysAfter === 0
            ? `the cache restarted empty (${keysBefore} keys before, 0 after)`
            : `keys ${keysBefore} before, ${keysAfter} right after`;
      const [own] = check.results;
      return {
        ok: problems.length === 0,
        before:
          oldPid === undefined
            ? `${f.unit} MainPID not recorded (the run stopped before reading it)`
            : `${f.unit} MainPID ${oldPid}; ${keys(keysBefore)} keys; ${f.role}`,
        after: oneLine(
          `${typeof newPid === 'number' ? `${f.unit} MainPID ${newPid}` : 'MainPID unknown'}; ` +
            `${keys(keysAfter)} keys right after the restart; ${own?.summary ?? 'no redis-stats result'}`,
          500,
        ),
        detail:
          problems.length === 0
            ? oneLine(
                `${f.host}: ${f.unit} runs as a new process (${oldPid} → ${newPid}) and answers; ` +
                  (checked.length > 1 ? `${checked.slice(1).join(', ')} linked to it again; ` : '') +
                  keyStory,
                600,
              )
            : oneLine(`${f.host}: ${problems.join('; ')}`, 600),
        evidence: check.results,
      };
    },
  };
}

/** `restart-redis` with the default PING gate (30 s). */
export const restartRedis = createRestartRedisCommand();
