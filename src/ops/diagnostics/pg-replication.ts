/**
 * pg-replication — runbook "Check replication lag", done right (LAB-NOTES "replication-lag trap"):
 * `now() - pg_last_xact_replay_timestamp()` alone reports the primary's idle time as lag. This asks
 * both sides: the replica (in recovery? WAL receiver streaming? lag 0 when everything received is
 * replayed, else time since the last replayed commit) and the primary (does pg_stat_replication list
 * the standby, how many WAL bytes is it behind). A replica that stopped receiving shows lag 0 on its
 * own side — only the primary's byte count and the receiver status reveal it.
 *
 * Target: a replica (default: the first db-replica host) → that replica and the primary; the primary
 * → the primary and every replica.
 */
import { z } from 'zod';
import type { Host } from '../../inventory.js';
import { hostsWithRole } from '../../inventory.js';
import type { ReplicationStatus, StandbyPeer } from '../adapters/postgres.js';
import {
  describeFailure,
  diagnose,
  formatBytes,
  formatDuration,
  hostNameSchema,
  oneLine,
  resolveHost,
  targetName,
  worst,
} from './common.js';
import type { Diagnostic, DiagnosticStatus } from './types.js';

const NAME = 'pg-replication';
const ROLES = ['db-replica', 'db-primary'] as const;
const MIB = 1024 * 1024;

export const pgReplicationInput = z.strictObject({
  /** A replica (checked with the primary) or the primary (checked with every replica); default: the first replica. */
  target: hostNameSchema.optional(),
  warnLagSeconds: z.number().min(0).max(86_400).default(30),
  errorLagSeconds: z.number().min(0).max(86_400).default(300),
  warnLagBytes: z
    .number()
    .int()
    .min(0)
    .default(64 * MIB),
  errorLagBytes: z
    .number()
    .int()
    .min(0)
    .default(1024 * MIB),
});
type Thresholds = Pick<
  z.infer<typeof pgReplicationInput>,
  'warnLagSeconds' | 'errorLagSeconds' | 'warnLagBytes' | 'errorLagBytes'
>;

type PrimaryView = Extract<ReplicationStatus, { role: 'primary' }>;
type ReplicaView = Extract<ReplicationStatus, { role: 'replica' }>;

export interface SideFailure {
  readonly status: DiagnosticStatus;
  readonly error: string;
}

export interface ReplicaReport {
  readonly host: string;
  readonly status: DiagnosticStatus;
  /** What is wrong, in words; empty when healthy. */
  readonly problems: readonly string[];
  readonly view?: ReplicationStatus;
  readonly failure?: SideFailure;
  /** The primary's pg_stat_replication row for this replica, when found. */
  readonly standby?: StandbyPeer;
  /** Replica-side lag (0 when caught up); null when unknown. */
  readonly lagSeconds: number | null;
  /** WAL bytes the primary has that the replica has not replayed (primary's view). */
  readonly bytesBehind: number | null;
}

export interface PgReplicationData {
  readonly primary: {
    readonly host: string;
    readonly view?: ReplicationStatus;
    readonly failure?: SideFailure;
  };
  readonly replicas: readonly ReplicaReport[];
}

/** Which pg_stat_replication row is this replica's: by client address, else the only one. */
export function matchStandby(
  primary: PrimaryView,
  replica: Host,
  replicaCount: number,
): StandbyPeer | undefined {
  const byAddr = primary.standbys.find((s) => s.clientAddr === replica.address);
  if (byAddr) return byAddr;
  return replicaCount === 1 && primary.standbys.length === 1 ? primary.standbys[0] : undefined;
}

/** Judges one replica from both views (pure, for tests). */
export function judgeReplica(
  replica: string,
  view: ReplicationStatus | undefined,
  failure: SideFailure | undefined,
  primary: PrimaryView | undefined,
  standby: StandbyPeer | undefined,
  t: Thresholds,
): Omit<ReplicaReport, 'host' | 'view' | 'failure' | 'standby'> {
  const problems: string[] = [];
  let status: DiagnosticStatus = 'ok';
  const flag = (s: DiagnosticStatus, text: string) => {
    status = worst(status, s);
    problems.push(text);
  };
  const bytesBehind = standby?.replayLagBytes ?? null;
  if (failure) {
    flag(
      failure.status === 'ok' ? 'error' : failure.status,
      `${replica} could not be checked: ${failure.error}`,
    );
  } else if (view && view.role !== 'replica') {
    flag('error', `${replica} is not in recovery (promoted or misconfigured): it is not a replica`);
  }
  const r: ReplicaView | undefined = view?.role === 'replica' ? view : undefined;
  if (r) {
    if (r.walReceiverStatus !== 'streaming') {
      flag('error', `${replica} is not streaming (WAL receiver: ${r.walReceiverStatus ?? 'none'})`);
    }
    if (r.replayPaused) flag('warn', `${replica} has WAL replay paused`);
    if (r.lagSeconds !== null) {
      if (r.lagSeconds >= t.errorLagSeconds) flag('error', `${replica} lags ${formatLag(r.lagSeconds)}`);
      else if (r.lagSeconds >= t.warnLagSeconds) flag('warn', `${replica} lags ${formatLag(r.lagSeconds)}`);
    }
  }
  if (primary) {
    if (!standby) {
      flag(
        'error',
        primary.standbys.length === 0
          ? 'the primary lists no standby in pg_stat_replication'
          : `the primary lists no standby from ${replica}`,
      );
    } else {
      if (standby.state !== 'streaming')
        flag('warn', `the primary sees ${replica} in state ${standby.state ?? 'unknown'}`);
      if (bytesBehind !== null) {
        if (bytesBehind >= t.errorLagBytes)
          flag('error', `${replica} is ${formatBytes(bytesBehind)} of WAL behind`);
        else if (bytesBehind >= t.warnLagBytes)
          flag('warn', `${replica} is ${formatBytes(bytesBehind)} of WAL behind`);
      }
    }
  }
  return { status, problems, lagSeconds: r?.lagSeconds ?? null, bytesBehind };
}

interface Side {
  readonly view?: ReplicationStatus;
  readonly failure?: SideFailure;
}

/** 0 → "0 s", 2.345 → "2.3 s", 125 → "2 min 5 s", null → "unknown". */
export function formatLag(seconds: number | null): string {
  if (seconds === null) return 'unknown';
  if (seconds === 0) return '0 s';
  return seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds * 1000);
}

async function side(fn: () => Promise<ReplicationStatus>): Promise<Side> {
  try {
    return { view: await fn() };
  } catch (err) {
    const f = describeFailure(err);
    return { failure: { status: f.status, error: f.headline } };
  }
}

export const pgReplication: Diagnostic<typeof pgReplicationInput, PgReplicationData> = {
  name: NAME,
  title: 'PostgreSQL replication',
  runbook:
    'replica: pg_is_in_recovery(), pg_stat_wal_receiver, CASE WHEN receive_lsn = replay_lsn THEN 0 ELSE now() - pg_last_xact_replay_timestamp() END; primary: pg_stat_replication',
  input: pgReplicationInput,
  run(ctx, input) {
    const label = targetName(ctx.inventory, input.target, ROLES);
    return diagnose(NAME, label, async () => {
      const target = resolveHost(ctx.inventory, input.target, ROLES);
      const targetIsPrimary = target.roles.includes('db-primary');
      const primaryHost = targetIsPrimary ? target : hostsWithRole(ctx.inventory, 'db-primary')[0];
      const replicaHosts = targetIsPrimary ? hostsWithRole(ctx.inventory, 'db-replica') : [target];
      const [primarySide, ...replicaSides] = await Promise.all([
        primaryHost
          ? side(() => ctx.db.replicationStatus(primaryHost))
          : Promise.resolve<Side>({
              failure: { status: 'error', error: 'no db-primary host in the inventory' },
            }),
        ...replicaHosts.map((h) => side(() => ctx.db.replicationStatus(h))),
      ]);
      const primaryName = primaryHost?.name ?? 'primary';
      let primaryStatus: DiagnosticStatus = 'ok';
      const primaryProblems: string[] = [];
      const primaryView = primarySide?.view?.role === 'primary' ? primarySide.view : undefined;
      if (primarySide?.failure) {
        primaryStatus = 'error';
        primaryProblems.push(`primary ${primaryName} unreachable: ${primarySide.failure.error}`);
      } else if (primarySide?.view && !primaryView) {
        primaryStatus = 'error';
        primaryProblems.push(`${primaryName} is in recovery: it is not a primary`);
      }
      const replicas: ReplicaReport[] = replicaHosts.map((h, i) => {
        const s = replicaSides[i] ?? {};
        const standby = primaryView ? matchStandby(primaryView, h, replicaHosts.length) : undefined;
        const judged = judgeReplica(h.name, s.view, s.failure, primaryView, standby, input);
        return {
          host: h.name,
          ...judged,
          ...(s.view ? { view: s.view } : {}),
          ...(s.failure ? { failure: s.failure } : {}),
          ...(standby ? { standby } : {}),
        };
      });
      const data: PgReplicationData = {
        primary: {
          host: primaryName,
          ...(primarySide?.view ? { view: primarySide.view } : {}),
          ...(primarySide?.failure ? { failure: primarySide.failure } : {}),
        },
        replicas,
      };

      // The host asked about could not be reached: that is the answer, whatever the other side says.
      const own = targetIsPrimary ? primarySide?.failure : replicas[0]?.failure;
      if (own && (own.status === 'unreachable' || own.status === 'timeout')) {
        return {
          status: own.status,
          summary: oneLine(`${target.name}: ${NAME} — ${own.error}`),
          error: own.error,
          data,
        };
      }
      if (replicas.length === 0) {
        return {
          status: worst(primaryStatus, 'warn'),
          summary: oneLine(
            `${target.name}: no db-replica host in the inventory${primaryProblems.length ? `; ${primaryProblems.join('; ')}` : ''}`,
          ),
          data,
        };
      }
      const status = replicas.reduce<DiagnosticStatus>((s, r) => worst(s, r.status), primaryStatus);
      const problems = [...primaryProblems, ...replicas.flatMap((r) => r.problems)];
      const healthy = replicas
        .filter((r) => r.status === 'ok')
        .map(
          (r) =>
            `${r.host} streaming from ${primaryName}, lag ${formatLag(r.lagSeconds)}` +
            `${r.bytesBehind !== null ? ` (${formatBytes(r.bytesBehind)} behind per the primary)` : ''}`,
        );
      const summary =
        problems.length === 0
          ? `${target.name}: ${healthy.join('; ')}`
          : `${target.name}: ${problems.join('; ')}${healthy.length ? `; ${healthy.join('; ')}` : ''}`;
      return { status, summary: oneLine(summary, 400), data };
    });
  },
};
