/**
 * `failover [--to REPLICA] [--force]` — runbook "Disaster Recovery", Quick DR Activation: promote
 * the replica, point every app host's database setting at it, restart the app hosts, verify.
 *
 * - plan: pure, from the inventory and the arguments only (`buildFailoverPlan`), so the same
 *   request plans and hashes the same whatever state the fleet is in: promote the replica, wait
 *   until it accepts writes, then per app host in inventory order: rewrite DATABASE_HOST in its
 *   settings file (/etc/qnwis/.env), restart the app (the `restart` command's own steps and
 *   /health gate), wait until /health/detailed reports its database ok; then prove a write lands on
 *   the new primary, and finally tell the channel that the old primary must be rebuilt. Every step
 *   has its own id (`promote`, `repoint-app-01`, `restart-app-01`, …) so a run that dies half-way
 *   says exactly what was done.
 * - precheck (at run time): the plan still matches the inventory; the replica answers, is in
 *   recovery and lags less than the limit (the adapter's lag: 0 when all received WAL is
 *   replayed); the old primary really does not accept connections; every app host answers over
 *   SSH and has exactly one DATABASE_HOST line in its settings file (no promotion unless every app
 *   host can be repointed). `--force` accepts a primary that still answers (two primaries until
 *   someone stops it), a replica promoted already (finishing an interrupted failover) and a lag
 *   that cannot be judged; never a measured lag over the limit.
 * - run: each step above; a failed step stops the run (the steps after it are reported skipped).
 * - verify: the new primary is out of recovery and takes a write (the ops role's probe), every
 *   app host's settings file names it, and the `health` diagnostic of every app host is ok.
 *
 * After a failover the inventory still names the old hosts' roles: the old replica is "db-replica"
 * but is the primary. The last step says so in the channel; updating the inventory is the
 * operator's job (diagnostics that target `db-primary` reach the old, stopped server until then).
 */

import { z } from 'zod';
import { DatabaseTimeoutError, DatabaseUnreachableError } from '../../errors.js';
import { canonicalJson } from '../../incidents/approvals.js';
import { type Host, hostsWithRole, type Inventory, serviceUrl } from '../../inventory.js';
import { defineRemoteCommand } from '../adapters/ssh.js';
import { formatDuration, oneLine, resolveService } from '../diagnostics/common.js';
import type { HealthData } from '../diagnostics/health.js';
import { type DiagnosticResult, runDiagnostics } from '../diagnostics/index.js';
import { serviceMainPid, serviceRestart } from '../host-commands.js';
import type { CommandArgs } from './catalog.js';
import { createRestartCommand, parseMainPid, type RestartOptions } from './restart.js';
import { errorText, runSteps, type StepHandler, type StepResult } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  type JsonObject,
  PlanRefusedError,
  type PlanStep,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type FailoverArgs = CommandArgs['failover'];

/** The setting a failover rewrites in each app host's settings file. */
export const DATABASE_HOST_SETTING = 'DATABASE_HOST';
/** The runbook's application settings file (`sudo sed -i 's/db-primary/db-replica/g' /etc/qnwis/.env`). */
export const DEFAULT_SETTINGS_FILE = '/etc/qnwis/.env';

// ---------------------------------------------------------------------------------------------
// Remote commands (values from the inventory and the module's options only)

/** An absolute path without traversal. */
const settingsFile = z
  .string()
  .max(255)
  .regex(/^\/[A-Za-z0-9._/-]+$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');

/** An inventory address: IPv4, IPv6 or a DNS name (never shell or sed syntax). */
const databaseAddress = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9.:-]*$/, 'must be an IP address or host name');

/**
 * The app host's current database host: the DATABASE_HOST lines of its settings file. grep's
 * exit 1 (no such line) is an answer; 2 (no file, no permission) fails.
 */
export const readDatabaseHost = defineRemoteCommand({
  name: 'read-database-host',
  script: "sudo grep -E '^DATABASE_HOST=' {{file}}",
  args: { file: settingsFile },
  timeoutSec: 10,
  okExitCodes: [0, 1],
  maxOutputBytes: 16 * 1024,
});

/**
 * Runbook DR step 2 (`sed -i 's/db-primary/db-replica/g' /etc/qnwis/.env`), made safe: only the one
 * DATABASE_HOST line changes (exactly one must exist), to an inventory address; the new content is
 * written beside the file, checked (same number of lines, the new setting present), given the
 * file's owner and mode and renamed over it, so the app never reads half a file. Prints
 * `before=…` and `after=…`; a file that already names the host is left alone (`unchanged`).
 */
export const writeDatabaseHost = defineRemoteCommand({
  name: 'write-database-host',
  script: [
    'set -eu',
    // The temporary copy holds what the file holds (a password): never readable by others.
    'umask 077',
    'f={{file}}',
    'h={{host}}',
    'tmp="$f.qnwis-chatops-tmp"',
    'sudo test -f "$f" || { echo "$f does not exist" >&2; exit 3; }',
    'n=$(sudo grep -c \'^DATABASE_HOST=\' "$f" || true)',
    '[ "$n" = 1 ] || { echo "$f has $n DATABASE_HOST lines, expected exactly 1" >&2; exit 3; }',
    'old=$(sudo grep \'^DATABASE_HOST=\' "$f" | cut -d= -f2-)',
    'if [ "$old" = "$h" ]; then echo "before=$old"; echo "after=$h"; echo unchanged; exit 0; fi',
    'trap \'sudo rm -f "$tmp"\' EXIT',
    'sudo awk -v h="$h" \'/^DATABASE_HOST=/ { print "DATABASE_HOST=" h; next } { print }\' "$f" | sudo tee "$tmp" >/dev/null',
    '[ "$(sudo awk \'END { print NR }\' "$tmp")" = "$(sudo awk \'END { print NR }\' "$f")" ] || { echo "the rewrite of $f came out short" >&2; exit 4; }',
    'sudo grep -qxF "DATABASE_HOST=$h" "$tmp" || { echo "the rewrite of $f lost the new setting" >&2; exit 4; }',
    'sudo chown --reference="$f" "$tmp"',
    'sudo chmod --reference="$f" "$tmp"',
    'sudo mv -f "$tmp" "$f"',
    'echo "before=$old"',
    'echo "after=$h"',
  ].join('\n'),
  args: { file: settingsFile, host: databaseAddress },
  timeoutSec: 15,
  maxOutputBytes: 16 * 1024,
});

/** `read-database-host` output → the values of its DATABASE_HOST lines (usually one). */
export function parseDatabaseHostLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${DATABASE_HOST_SETTING}=`))
    .map((l) => l.slice(DATABASE_HOST_SETTING.length + 1));
}

/** `write-database-host` output → what the line said before and says now. */
export function parseRewriteOutput(
  stdout: string,
): { before: string; after: string; unchanged: boolean } | undefined {
  const lines = stdout.split('\n').map((l) => l.trim());
  const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
  const before = value('before');
  const after = value('after');
  if (before === undefined || after === undefined) return undefined;
  return { before, after, unchanged: lines.includes('unchanged') };
}

// ---------------------------------------------------------------------------------------------
// Plan

export type FailoverAppFacts = {
  readonly host: string;
  readonly unit: string;
  readonly service: string;
  readonly healthUrl: string;
  readonly healthDetailedUrl: string;
};

export type FailoverFacts = {
  /** The primary being replaced (the inventory's db-primary). */
  readonly oldPrimary: string;
  readonly oldPrimaryAddress: string;
  /** The replica promoted. */
  readonly newPrimary: string;
  readonly newPrimaryAddress: string;
  readonly force: boolean;
  /** The precheck refuses a replica lagging this much or more. */
  readonly maxLagSeconds: number;
  /** pg_promote's own wait. */
  readonly promoteWaitSec: number;
  /** How long the promoted server has to accept a write. */
  readonly writableWaitSec: number;
  /** Per app host: /health after the restart (the restart command's gate). */
  readonly healthGateSec: number;
  /** Per app host: /health/detailed must report the database ok within this. */
  readonly databaseGateSec: number;
  readonly pollIntervalMs: number;
  readonly settingsFile: string;
  readonly setting: string;
  /** In the order they are repointed and restarted (inventory order). */
  readonly apps: readonly FailoverAppFacts[];
};

export type FailoverPlan = CommandPlan<FailoverFacts>;

export interface FailoverOptions {
  /** Default 30 s. */
  readonly maxLagSeconds?: number;
  /** Default 60 s. */
  readonly promoteWaitSec?: number;
  /** Default 30 s. */
  readonly writableWaitSec?: number;
  /** Default 60 s. */
  readonly databaseGateSec?: number;
  /** Default 1000 ms (health polls and write probes). */
  readonly pollIntervalMs?: number;
  /** Default /etc/qnwis/.env. */
  readonly settingsFile?: string;
  /** The restart of each app host, as the `restart` command does it (health gate default 60 s). */
  readonly restart?: RestartOptions;
}

export const FAILOVER_DEFAULTS = {
  maxLagSeconds: 30,
  promoteWaitSec: 60,
  writableWaitSec: 30,
  databaseGateSec: 60,
  pollIntervalMs: 1_000,
  healthGateSec: 60,
} as const;

interface ResolvedOptions {
  readonly maxLagSeconds: number;
  readonly promoteWaitSec: number;
  readonly writableWaitSec: number;
  readonly databaseGateSec: number;
  readonly pollIntervalMs: number;
  readonly healthGateSec: number;
  readonly settingsFile: string;
}

function resolveOptions(opts: FailoverOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    maxLagSeconds: opts.maxLagSeconds ?? FAILOVER_DEFAULTS.maxLagSeconds,
    promoteWaitSec: opts.promoteWaitSec ?? FAILOVER_DEFAULTS.promoteWaitSec,
    writableWaitSec: opts.writableWaitSec ?? FAILOVER_DEFAULTS.writableWaitSec,
    databaseGateSec: opts.databaseGateSec ?? FAILOVER_DEFAULTS.databaseGateSec,
    pollIntervalMs: opts.pollIntervalMs ?? FAILOVER_DEFAULTS.pollIntervalMs,
    healthGateSec: opts.restart?.healthGateSec ?? FAILOVER_DEFAULTS.healthGateSec,
    settingsFile: opts.settingsFile ?? DEFAULT_SETTINGS_FILE,
  };
  if (!(r.maxLagSeconds > 0 && r.maxLagSeconds <= 86_400))
    throw new RangeError('maxLagSeconds must be in (0, 86400]');
  for (const [k, v] of Object.entries({
    promoteWaitSec: r.promoteWaitSec,
    writableWaitSec: r.writableWaitSec,
    databaseGateSec: r.databaseGateSec,
  })) {
    if (!Number.isInteger(v) || v < 1 || v > 3600)
      throw new RangeError(`${k} must be a whole number of seconds, 1..3600`);
  }
  if (!Number.isInteger(r.pollIntervalMs) || r.pollIntervalMs < 10 || r.pollIntervalMs > 60_000)
    throw new RangeError('pollIntervalMs must be 10..60000');
  if (!settingsFile.safeParse(r.settingsFile).success)
    throw new RangeError('settingsFile must be an absolute path');
  return r;
}

function appFacts(inv: Inventory, host: Host): FailoverAppFacts {
  const service = resolveService(
    inv,
    host,
    undefined,
    (s) => s.healthUrl !== undefined,
    'service with a health URL',
  );
  if (!service.healthDetailedUrl) {
    throw new PlanRefusedError(
      'failover',
      `service ${service.name} has no health_detailed_url in the inventory: without it the failover cannot confirm that ${host.name} reaches the new primary`,
    );
  }
  return {
    host: host.name,
    unit: service.unit,
    service: service.name,
    healthUrl: serviceUrl(service.healthUrl ?? '', host),
    healthDetailedUrl: serviceUrl(service.healthDetailedUrl, host),
  };
}

/**
 * The failover plan from the inventory, the arguments and the options alone (no I/O): the same
 * inputs give the same plan. Throws `PlanRefusedError` when the inventory cannot support one.
 */
export function buildFailoverPlan(
  inv: Inventory,
  args: FailoverArgs,
  opts: FailoverOptions = {},
): FailoverPlan {
  const o = resolveOptions(opts);
  const replica = inv.hosts.get(args.to);
  if (!replica) throw new PlanRefusedError('failover', `${args.to} is not in the inventory`);
  if (!replica.roles.includes('db-replica'))
    throw new PlanRefusedError(
      'failover',
      `${args.to} is not a database replica (roles: ${replica.roles.join(', ')})`,
    );
  const primaries = hostsWithRole(inv, 'db-primary');
  const [primary] = primaries;
  if (!primary || primaries.length > 1) {
    throw new PlanRefusedError(
      'failover',
      primaries.length === 0
        ? 'the inventory names no db-primary host to replace'
        : `the inventory names ${primaries.length} db-primary hosts (${primaries.map((h) => h.name).join(', ')}): which one is replaced cannot be told`,
    );
  }
  if (!databaseAddress.safeParse(replica.address).success)
    throw new PlanRefusedError(
      'failover',
      `${replica.name}'s inventory address cannot be written as ${DATABASE_HOST_SETTING}`,
    );
  const appHosts = hostsWithRole(inv, 'app');
  if (appHosts.length === 0)
    throw new PlanRefusedError('failover', 'the inventory has no app host to repoint');
  let apps: FailoverAppFacts[];
  try {
    apps = appHosts.map((h) => appFacts(inv, h));
  } catch (err) {
    if (err instanceof PlanRefusedError) throw err;
    throw new PlanRefusedError('failover', errorText(err));
  }
  const facts: FailoverFacts = {
    oldPrimary: primary.name,
    oldPrimaryAddress: primary.address,
    newPrimary: replica.name,
    newPrimaryAddress: replica.address,
    force: args.force,
    maxLagSeconds: o.maxLagSeconds,
    promoteWaitSec: o.promoteWaitSec,
    writableWaitSec: o.writableWaitSec,
    healthGateSec: o.healthGateSec,
    databaseGateSec: o.databaseGateSec,
    pollIntervalMs: o.pollIntervalMs,
    settingsFile: o.settingsFile,
    setting: DATABASE_HOST_SETTING,
    apps,
  };
  const n = apps.length;
  const steps: PlanStep[] = [
    {
      id: 'promote',
      host: replica.name,
      kind: 'sql',
      description:
        `SELECT pg_promote(true, ${o.promoteWaitSec}) on ${replica.name} (${replica.address}): ` +
        `it leaves recovery and becomes the primary in place of ${primary.name}`,
      timeoutSec: o.promoteWaitSec + 5,
    },
    {
      id: 'wait-writable',
      host: replica.name,
      kind: 'sql',
      description: `pg_is_in_recovery() must be false and a write (a temporary table, dropped at commit) must commit on ${replica.name} within ${o.writableWaitSec} s`,
      timeoutSec: o.writableWaitSec,
    },
  ];
  for (const a of apps) {
    steps.push(
      {
        id: `repoint-${a.host}`,
        host: a.host,
        kind: 'remote-command',
        description: `Set ${DATABASE_HOST_SETTING}=${replica.address} (${replica.name}) in ${o.settingsFile} on ${a.host}: only that line changes, written to a temporary file and renamed over the old one`,
        timeoutSec: writeDatabaseHost.timeoutSec,
      },
      {
        id: `restart-${a.host}`,
        host: a.host,
        kind: 'remote-command',
        description: `sudo systemctl restart ${a.unit} on ${a.host}, then GET ${a.healthUrl} must answer 2xx within ${o.healthGateSec} s`,
        timeoutSec: serviceRestart.timeoutSec + o.healthGateSec,
      },
      {
        id: `db-check-${a.host}`,
        host: a.host,
        kind: 'health-gate',
        description: `GET ${a.healthDetailedUrl} must report its database check ok within ${o.databaseGateSec} s (the app reaches ${replica.name})`,
        timeoutSec: o.databaseGateSec,
      },
    );
  }
  steps.push(
    {
      id: 'verify-writes',
      host: replica.name,
      kind: 'sql',
      description: `On ${replica.name}: pg_is_in_recovery() is false, a write commits, and the app's connections to ${inv.database.name} are counted`,
    },
    {
      id: 'old-primary',
      host: primary.name,
      kind: 'capture',
      description: `Tell the channel: ${primary.name} must stay down and be rebuilt as a standby of ${replica.name} before it serves again (checks whether it still accepts connections)`,
    },
  );
  return {
    command: 'failover',
    summary: `failover to ${replica.name}${args.force ? ' (--force)' : ''}`,
    steps,
    blastRadius:
      `the whole fleet: the database primary moves from ${primary.name} to ${replica.name}; ` +
      `all ${n} app host${n === 1 ? '' : 's'} are repointed and restarted, 1 of ${n} at a time; ` +
      `no standby remains until ${primary.name} is rebuilt` +
      (args.force ? `; --force: ${primary.name} may still be running and accepting writes` : ''),
    facts,
  };
}

// ---------------------------------------------------------------------------------------------
// The module

/** Unreachable or timed out: the server does not accept connections (as far as we can tell). */
function isDown(err: unknown): boolean {
  return err instanceof DatabaseUnreachableError || err instanceof DatabaseTimeoutError;
}

function dbHostOf(inv: Inventory, name: string): Host {
  const host = inv.hosts.get(name);
  if (!host || !(host.roles.includes('db-primary') || host.roles.includes('db-replica')))
    throw new PlanRefusedError('failover', `${name} is no longer a database host of the inventory`);
  return host;
}

function appHostOf(inv: Inventory, name: string): Host {
  const host = inv.hosts.get(name);
  if (!host?.roles.includes('app'))
    throw new PlanRefusedError('failover', `${name} is no longer an app host of the inventory`);
  return host;
}

/** One look at an app's /health/detailed: `skipped` when it cannot be asked at all (no token, no URL). */
interface DbCheck {
  readonly ok: boolean;
  readonly skipped: boolean;
  readonly detail: string;
}

function describeHealth(r: DiagnosticResult | undefined): string {
  if (!r) return 'no result';
  const d = (r.data as HealthData | undefined)?.detailed;
  const db = d?.checks.database;
  if (db) return `database ${db.status}${db.error ? `: ${db.error}` : ''}`;
  return r.summary.replace(/^[^:]+: /, '');
}

export function createFailoverCommand(
  opts: FailoverOptions = {},
): CommandModule<FailoverArgs, FailoverFacts> {
  resolveOptions(opts);
  const restarter = createRestartCommand(opts.restart ?? {});

  /** One look at an app host's /health/detailed (through the `health` diagnostic). */
  async function databaseCheck(ctx: CommandContext, a: FailoverAppFacts): Promise<DbCheck> {
    const [result] = await runDiagnostics(ctx, [
      { diagnostic: 'health', target: a.host, input: { service: a.service } },
    ]);
    const data = result?.data as HealthData | undefined;
    if (data?.detailedSkipped)
      return { ok: false, skipped: true, detail: `/health/detailed not asked: ${data.detailedSkipped}` };
    const d = data?.detailed;
    const ok = d?.ok === true && d.checks.database?.status === 'ok';
    return { ok, skipped: false, detail: describeHealth(result) };
  }

  /** Reads the DATABASE_HOST values of every app host; a string says why one could not be read. */
  async function readSettings(
    ctx: CommandContext,
    f: FailoverFacts,
  ): Promise<Map<string, string[] | string>> {
    const out = new Map<string, string[] | string>();
    await Promise.all(
      f.apps.map(async (a) => {
        try {
          const r = await ctx.ssh.run(appHostOf(ctx.inventory, a.host), readDatabaseHost, {
            file: f.settingsFile,
          });
          out.set(a.host, parseDatabaseHostLines(r.stdout));
        } catch (err) {
          out.set(a.host, errorText(err));
        }
      }),
    );
    return out;
  }

  return {
    name: 'failover',

    async plan(ctx, args) {
      return buildFailoverPlan(ctx.inventory, args, opts);
    },

    async precheck(ctx, args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      if (f.newPrimary !== args.to || f.force !== args.force)
        return {
          ok: false,
          reason: `the plan is for ${plan.summary}, the request for failover to ${args.to}${args.force ? ' (--force)' : ''}`,
        };
      let now: FailoverPlan;
      try {
        now = buildFailoverPlan(ctx.inventory, args, opts);
      } catch (err) {
        return { ok: false, reason: errorText(err) };
      }
      // Canonical JSON: the stored plan comes back from jsonb with its keys in another order.
      if (canonicalJson(now) !== canonicalJson(plan))
        return {
          ok: false,
          reason: 'the inventory changed since the plan (hosts, addresses or app services): plan again',
        };
      const replica = dbHostOf(ctx.inventory, f.newPrimary);
      const primary = dbHostOf(ctx.inventory, f.oldPrimary);

      const [replicaSide, primarySide, settings] = await Promise.all([
        ctx.db.replicationStatus(replica).then(
          (v) => ({ view: v }),
          (err: unknown) => ({ error: errorText(err) }),
        ),
        ctx.db.isInRecovery(primary).then(
          (inRecovery) => ({
            answers: true as const,
            detail: inRecovery ? 'it answers, as a standby' : 'it answers as a primary',
          }),
          (err: unknown) => ({ answers: !isDown(err), detail: errorText(err) }),
        ),
        readSettings(ctx, f),
      ]);
      const notes: string[] = [];

      if ('error' in replicaSide)
        return { ok: false, reason: `${f.newPrimary} cannot be reached: ${replicaSide.error}` };
      const view = replicaSide.view;
      if (view.role === 'primary') {
        if (!f.force) {
          return {
            ok: false,
            reason:
              `${f.newPrimary} is not in recovery: it was promoted already (or is no standby). ` +
              'To finish an interrupted failover (repoint and restart the app hosts), request failover --force',
          };
        }
        notes.push(
          `${f.newPrimary} is out of recovery already (--force: the promote step will find nothing to do)`,
        );
      } else if (view.lagSeconds === null) {
        if (!f.force) {
          return {
            ok: false,
            reason: `${f.newPrimary}'s replication lag cannot be judged (nothing received or replayed since it started): request failover --force to promote it anyway`,
          };
        }
        notes.push(`${f.newPrimary}'s lag cannot be judged (--force)`);
      } else if (view.lagSeconds >= f.maxLagSeconds) {
        return {
          ok: false,
          reason: `${f.newPrimary} lags ${view.lagSeconds.toFixed(1)} s (limit ${f.maxLagSeconds} s): promoting it now would lose that much; wait for it to catch up`,
        };
      } else {
        notes.push(
          `${f.newPrimary} is a standby ${view.lagSeconds.toFixed(1)} s behind (limit ${f.maxLagSeconds} s)`,
        );
      }

      if (primarySide.answers) {
        if (!f.force) {
          return {
            ok: false,
            reason:
              `${f.oldPrimary} still accepts connections (${oneLine(primarySide.detail, 200)}): a failover now would leave two primaries. ` +
              'Stop it first, or request failover --force',
          };
        }
        notes.push(`${f.oldPrimary} still accepts connections (--force): stop it, nothing may write to it`);
      } else {
        notes.push(
          `${f.oldPrimary} does not accept connections (${oneLine(primarySide.detail.replace(/^database on host "[^"]*" is unreachable: /, ''), 160)})`,
        );
      }

      const problems: string[] = [];
      const current: string[] = [];
      for (const a of f.apps) {
        const s = settings.get(a.host);
        if (typeof s === 'string' || s === undefined) problems.push(`${a.host}: ${s ?? 'not read'}`);
        else if (s.length !== 1)
          problems.push(
            `${a.host}: ${f.settingsFile} has ${s.length} ${DATABASE_HOST_SETTING} lines, expected exactly 1`,
          );
        else current.push(`${a.host} ${s[0]}`);
      }
      if (problems.length > 0) {
        return {
          ok: false,
          reason: oneLine(
            `not every app host can be repointed, so nothing was promoted: ${problems.join('; ')}`,
            600,
          ),
        };
      }
      notes.push(`${DATABASE_HOST_SETTING} now: ${current.join(', ')}`);
      return { ok: true, detail: oneLine(notes.join('; '), 600) };
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const observations: {
        promoted: boolean | null;
        promoteTookMs: number | null;
        settings: Record<string, { before: string; after: string }>;
        restarted: string[];
        writable: boolean;
        appConnections: number | null;
        oldPrimaryAnswers: boolean | null;
      } = {
        promoted: null,
        promoteTookMs: null,
        settings: {},
        restarted: [],
        writable: false,
        appConnections: null,
        oldPrimaryAnswers: null,
      };
      const replica = () => dbHostOf(ctx.inventory, f.newPrimary);

      const handlers: Record<string, StepHandler> = {
        promote: async () => {
          const r = await ctx.db.promote(replica(), { waitSeconds: f.promoteWaitSec });
          if (r.promoted) {
            observations.promoted = true;
            observations.promoteTookMs = r.tookMs;
            return { status: 'done', detail: `${f.newPrimary} promoted in ${formatDuration(r.tookMs)}` };
          }
          if (r.reason === 'not_in_recovery') {
            observations.promoted = false;
            return {
              status: 'done',
              detail: `${f.newPrimary} was already out of recovery: nothing to promote`,
            };
          }
          return {
            status: 'failed',
            detail: `pg_promote did not finish within ${f.promoteWaitSec} s on ${f.newPrimary} (it may still complete): check it before anything else`,
          };
        },

        'wait-writable': async (s) => {
          const started = ctx.now().getTime();
          const deadline = started + f.writableWaitSec * 1000;
          let attempts = 0;
          let last = '';
          for (;;) {
            attempts++;
            try {
              const inRecovery = await ctx.db.isInRecovery(replica());
              if (inRecovery) last = 'still in recovery';
              else {
                const w = await ctx.db.probeWrite(replica());
                observations.writable = true;
                return {
                  status: 'done',
                  detail: `${f.newPrimary} accepts writes (write committed in ${w.latencyMs} ms) after ${formatDuration(ctx.now().getTime() - started)}`,
                };
              }
            } catch (err) {
              last = errorText(err);
            }
            const now = ctx.now().getTime();
            if (now >= deadline) {
              return {
                status: 'failed',
                detail: oneLine(
                  `${f.newPrimary} did not accept a write within ${f.writableWaitSec} s (${attempts} attempts; last: ${last})`,
                  500,
                ),
              };
            }
            if (s.aborted)
              return {
                status: 'cancelled',
                detail: `cancelled while waiting for ${f.newPrimary} to accept writes (promoted already)`,
              };
            // The first write succeeds ~200 ms after pg_promote (LAB-NOTES): poll faster than the health gates.
            await ctx.sleep(Math.min(f.pollIntervalMs, 250, deadline - now), s);
          }
        },

        'verify-writes': async () => {
          const host = replica();
          if (await ctx.db.isInRecovery(host))
            return {
              status: 'failed',
              detail: `${f.newPrimary} is in recovery again: it is not the primary`,
            };
          const w = await ctx.db.probeWrite(host);
          observations.writable = true;
          let connections = '';
          try {
            const c = await ctx.db.connectionCount(host);
            observations.appConnections = c.total;
            connections = `; ${c.total} connection${c.total === 1 ? '' : 's'} to ${c.database} (${c.active} active)`;
          } catch (err) {
            connections = `; connections not counted (${errorText(err)})`;
          }
          return {
            status: 'done',
            detail: `${f.newPrimary} is the primary: pg_is_in_recovery() false, a write committed in ${w.latencyMs} ms${connections}`,
          };
        },

        'old-primary': async () => {
          let answers: boolean;
          try {
            await ctx.db.isInRecovery(dbHostOf(ctx.inventory, f.oldPrimary));
            answers = true;
          } catch (err) {
            answers = !isDown(err);
          }
          observations.oldPrimaryAnswers = answers;
          const rebuild =
            `${f.newPrimary} (${f.newPrimaryAddress}) is the primary now and the fleet has no standby. ` +
            `${f.oldPrimary} must be rebuilt as a standby of ${f.newPrimary} (a fresh pg_basebackup) before it is started again: ` +
            `started as it is, it would be a second primary with diverged data. The inventory still gives ${f.newPrimary} the role db-replica and ${f.oldPrimary} db-primary: update the roles.`;
          return {
            status: 'done',
            detail: answers
              ? `WARNING: ${f.oldPrimary} still accepts connections: stop it now so nothing writes to it. ${rebuild}`
              : `${f.oldPrimary} does not accept connections. ${rebuild}`,
          };
        },
      };

      for (const a of f.apps) {
        handlers[`repoint-${a.host}`] = async () => {
          const r = await ctx.ssh.run(appHostOf(ctx.inventory, a.host), writeDatabaseHost, {
            file: f.settingsFile,
            host: f.newPrimaryAddress,
          });
          const parsed = parseRewriteOutput(r.stdout);
          if (!parsed || parsed.after !== f.newPrimaryAddress)
            return {
              status: 'failed',
              detail: `unexpected output from the rewrite: ${oneLine(r.stdout, 200)}`,
            };
          observations.settings[a.host] = { before: parsed.before, after: parsed.after };
          return {
            status: 'done',
            detail: parsed.unchanged
              ? `${a.host}: ${f.settingsFile} already has ${DATABASE_HOST_SETTING}=${parsed.after}`
              : `${a.host}: ${DATABASE_HOST_SETTING} ${parsed.before} → ${parsed.after} in ${f.settingsFile}`,
          };
        };

        handlers[`restart-${a.host}`] = async (s): Promise<StepResult> => {
          // The restart command's own steps (MainPID, systemctl restart, /health gate).
          const subArgs = { host: a.host };
          const subPlan = await restarter.plan(ctx, subArgs);
          const outcome = await restarter.run(ctx, subArgs, subPlan, async () => {}, s);
          const text = outcome.steps
            .filter((st) => st.status !== 'skipped')
            .map((st) => st.detail)
            .join('; ');
          if (outcome.status === 'succeeded') {
            // /health answering is not enough: the app must run as a new process of the unit,
            // the one that read the new setting (not a stray one that still holds the port).
            const old = outcome.observations.oldMainPid;
            const now = parseMainPid(
              (await ctx.ssh.run(appHostOf(ctx.inventory, a.host), serviceMainPid, { unit: a.unit })).stdout,
            );
            if (!now)
              return {
                status: 'failed',
                detail: oneLine(
                  `${text}; but ${a.unit} is not running on ${a.host} (MainPID ${now ?? '?'}): whatever answers /health did not read the new setting`,
                  500,
                ),
              };
            if (now === old)
              return {
                status: 'failed',
                detail: `${a.host}: ${a.unit} still runs as MainPID ${now}: not restarted`,
              };
            observations.restarted.push(a.host);
            return { status: 'done', detail: oneLine(`${text}; MainPID now ${now}`, 500) };
          }
          if (outcome.status === 'cancelled')
            return { status: 'cancelled', detail: oneLine(outcome.detail, 500) };
          return { status: 'failed', detail: oneLine(outcome.detail, 500) };
        };

        handlers[`db-check-${a.host}`] = async (s): Promise<StepResult> => {
          const started = ctx.now().getTime();
          const deadline = started + f.databaseGateSec * 1000;
          let attempts = 0;
          for (;;) {
            const check = await databaseCheck(ctx, a);
            attempts++;
            const now = ctx.now().getTime();
            if (check.ok)
              return {
                status: 'done',
                detail: `${a.host}: /health/detailed ${check.detail} after ${formatDuration(now - started)} (attempt ${attempts})`,
              };
            if (check.skipped) return { status: 'failed', detail: `${a.host}: ${check.detail}` };
            if (now >= deadline) {
              return {
                status: 'failed',
                detail: oneLine(
                  `${a.host}: /health/detailed did not report the database ok within ${f.databaseGateSec} s (last: ${check.detail})`,
                  500,
                ),
              };
            }
            if (s.aborted)
              return {
                status: 'cancelled',
                detail: `cancelled while waiting for ${a.host}'s database check (last: ${check.detail})`,
              };
            await ctx.sleep(Math.min(f.pollIntervalMs, deadline - now), s);
          }
        };
      }

      return runSteps({
        plan,
        report,
        signal,
        handlers,
        observations: () => observations as unknown as JsonObject,
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const problems: string[] = [];
      const seen: string[] = [];

      let primaryText: string;
      try {
        const host = dbHostOf(ctx.inventory, f.newPrimary);
        if (await ctx.db.isInRecovery(host)) {
          primaryText = `${f.newPrimary} is in recovery`;
          problems.push(`${f.newPrimary} is still (or again) in recovery: it is not the primary`);
        } else {
          const w = await ctx.db.probeWrite(host);
          primaryText = `${f.newPrimary} is the primary (pg_is_in_recovery() false, write ${w.latencyMs} ms)`;
        }
      } catch (err) {
        primaryText = `${f.newPrimary} could not be checked`;
        problems.push(`${f.newPrimary}: ${errorText(err)}`);
      }
      seen.push(primaryText);

      const [settings, health] = await Promise.all([
        readSettings(ctx, f),
        runDiagnostics(
          ctx,
          f.apps.map((a) => ({ diagnostic: 'health', target: a.host, input: { service: a.service } })),
        ),
      ]);
      for (const [i, a] of f.apps.entries()) {
        const s = settings.get(a.host);
        const h = health[i];
        if (typeof s === 'string' || s === undefined)
          problems.push(`${a.host}: settings not read (${s ?? 'no answer'})`);
        else if (s.length !== 1 || s[0] !== f.newPrimaryAddress)
          problems.push(
            `${a.host}: ${DATABASE_HOST_SETTING}=${s.join(',') || '(none)'}, not ${f.newPrimaryAddress}`,
          );
        if (h?.status !== 'ok')
          problems.push(`${a.host}: health ${h?.status ?? 'unknown'} (${describeHealth(h)})`);
        seen.push(`${a.host} → ${Array.isArray(s) ? s.join(',') : '?'} (${describeHealth(h)})`);
      }

      const before = outcome.observations.settings as Record<string, { before?: string }> | undefined;
      const beforeHosts = f.apps
        .map((a) => before?.[a.host]?.before)
        .filter((v): v is string => typeof v === 'string');
      return {
        ok: problems.length === 0,
        before: oneLine(
          `${f.oldPrimary} (${f.oldPrimaryAddress}) was the primary; app hosts' ${DATABASE_HOST_SETTING}: ` +
            (beforeHosts.length > 0 ? [...new Set(beforeHosts)].join(', ') : 'not recorded'),
          400,
        ),
        after: oneLine(seen.join('; '), 600),
        detail:
          problems.length === 0
            ? oneLine(
                `${f.newPrimary} is the primary and takes writes; all ${f.apps.length} app hosts use it and are healthy. ` +
                  `${f.oldPrimary} must be rebuilt as a standby of ${f.newPrimary}.`,
                600,
              )
            : oneLine(problems.join('; '), 600),
        evidence: health,
      };
    },
  };
}

/** `failover` with the default limits (lag under 30 s, 60 s health gates). */
export const failover = createFailoverCommand();
