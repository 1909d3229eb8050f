/**
 * The on-call's scheduled duties (issue 7, item 6; runbook "On-Call Responsibilities"), as BullMQ
 * job schedulers on the `duties` queue: one job per slot whatever the number of replicas (the
 * scheduler is one key in Redis; upserting it at every start changes nothing), times in UTC from
 * configuration. Each run is also taken once in PostgreSQL (src/store/duties.ts), so a stalled job
 * delivered again, or a retry after a half-done run, never posts twice.
 *
 * - backup-check (DUTY_BACKUP_CHECK_CRON, daily): the newest backup on the database primary
 *   (`find /backups …` over SSH) must be younger than 26 h and of plausible size. A failure opens
 *   an incident as if Alertmanager had sent `BackupCheckFailed` (a synthetic notification through
 *   the same store as the webhook: routing, severity by its `warning` label, Slack, paging if
 *   configured); the next passing check resolves it. Either way one line in the duties channel.
 * - slo-digest (DUTY_SLO_DIGEST_CRON, every 4 h): the runbook's SLOs from Prometheus against their
 *   targets, and a chart of the query p95 against its targets in the thread.
 * - error-log-review (DUTY_ERROR_LOG_REVIEW_CRON, daily): every host's error logs over the last
 *   day, top patterns per host, patterns the previous review did not have flagged new.
 * - maintenance-check (every DUTY_MAINTENANCE_CHECK_SEC): the maintenance window is announced 48 h
 *   ahead, once per window (the window's id is the run's key).
 * - watchdog-check (every WATCHDOG_CHECK_SEC): the dead-man switch, src/jobs/watchdog.ts.
 *
 * Failures: a host or Prometheus that does not answer is retried by the queue (3 attempts); on the
 * last attempt the backup check counts an unreadable backup directory as a failed check (nobody
 * could confirm last night's backup), and the digest reports the figures it could not read.
 */
import { createHash } from 'node:crypto';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  backupCheckMessage,
  type DutyMessage,
  errorLogReviewMessage,
  maintenanceAnnouncementMessage,
  sloDigestMessage,
} from '../bot/blocks/duty-messages.js';
import { checkSlackLimits } from '../bot/blocks/limits.js';
import type { ChartSeries } from '../bot/charts/line-chart.js';
import { lineChartSvg } from '../bot/charts/line-chart.js';
import { renderPng } from '../bot/charts/render-png.js';
import type { ChatClient } from '../bot/chat.js';
import type { Config } from '../config.js';
import { type BackupVerdict, judgeBackups, unreadableVerdict } from '../duties/backup-check.js';
import { baselineOf, type LogSource, readableHosts, reviewErrorLogs } from '../duties/error-log-review.js';
import { maintenanceAnnouncementAt } from '../duties/maintenance.js';
import {
  promDurationMs,
  QUERY_TYPES,
  type QueryType,
  RUNBOOK_SLO_WINDOWS,
  type SloReadings,
  type SloWindows,
  sloFigures,
  sloHeadline,
  sloQueries,
  type WindowedReading,
} from '../duties/slo.js';
import { ConfigError, PrometheusUnavailableError, QnwisError } from '../errors.js';
import type { AlertmanagerWebhook } from '../incidents/alertmanager.js';
import { escalationMatrixFrom, type MaintenanceSchedule } from '../incidents/escalation.js';
import { hostsWithRole, type Inventory } from '../inventory.js';
import type { Logger } from '../observability/logger.js';
import { dutiesTotal, jobsTotal } from '../observability/metrics.js';
import { backupList, parseBackupListing } from '../ops/commands/backup.js';
import { describeFailure, servicesOn } from '../ops/diagnostics/common.js';
import type { DiagnosticContext } from '../ops/diagnostics/types.js';
import { ERROR_LOG_REVIEW_BYTES, errorLogWindow, NO_SUCH_LOG } from '../ops/duty-commands.js';
import { PrometheusClient, type RangeQuerier } from '../ops/prometheus.js';
import { DutyStore } from '../store/duties.js';
import type { IncidentRow, IncidentStore, RecordContext } from '../store/incidents.js';
import { createEventsApiClient, pages } from './pagerduty-events.js';
import { dutiesJobs, enqueueIncidentSync, enqueuePagerDuty, QUEUE_NAMES, type Queues } from './queues.js';
import { checkWatchdog, type WatchdogDeps } from './watchdog.js';

export interface DutiesDeps {
  store: IncidentStore;
  duties: DutyStore;
  queues: Queues;
  /** The fleet: inventory, SSH (backup listing, error logs), clock. */
  fleet: DiagnosticContext;
  prometheus: RangeQuerier | null;
  chat: ChatClient;
  /** DUTIES_CHANNEL. */
  channel: string;
  /** How a synthetic alert becomes an incident (the webhook's routing and severity). */
  recordContext: RecordContext;
  /** PagerDuty configured: an incident of a paging severity is paged. */
  paging: boolean;
  maintenance: MaintenanceSchedule;
  /** The dead-man switch; null when WATCHDOG_CHECK_SEC is 0. */
  watchdog: WatchdogDeps | null;
  log: Logger;
  /** The SLO windows (default the runbook's). */
  sloWindows?: SloWindows;
  now?: () => Date;
}

/** The alert a failed backup check raises (and the next passing check resolves). */
export const BACKUP_ALERT = 'BackupCheckFailed';

// ---- scheduling ------------------------------------------------------------------------------

interface DutySchedule {
  readonly id: string;
  readonly job: keyof typeof dutiesJobs;
  /** The configuration variable it comes from (named in errors). */
  readonly variable: string;
  readonly repeat: { pattern: string; tz: string } | { every: number } | null;
}

export function dutySchedules(config: Config): DutySchedule[] {
  // "off" as well as empty: parseConfig reads an empty variable as unset (the default schedule).
  const cron = (pattern: string) =>
    pattern.trim() && pattern.trim().toLowerCase() !== 'off' ? { pattern: pattern.trim(), tz: 'UTC' } : null;
  const every = (sec: number) => (sec > 0 ? { every: sec * 1000 } : null);
  return [
    {
      id: 'duty-backup-check',
      job: 'backup-check',
      variable: 'DUTY_BACKUP_CHECK_CRON',
      repeat: cron(config.DUTY_BACKUP_CHECK_CRON),
    },
    {
      id: 'duty-slo-digest',
      job: 'slo-digest',
      variable: 'DUTY_SLO_DIGEST_CRON',
      repeat: cron(config.DUTY_SLO_DIGEST_CRON),
    },
    {
      id: 'duty-error-log-review',
      job: 'error-log-review',
      variable: 'DUTY_ERROR_LOG_REVIEW_CRON',
      repeat: cron(config.DUTY_ERROR_LOG_REVIEW_CRON),
    },
    {
      id: 'duty-maintenance-check',
      job: 'maintenance-check',
      variable: 'DUTY_MAINTENANCE_CHECK_SEC',
      repeat: every(config.DUTY_MAINTENANCE_CHECK_SEC),
    },
    {
      id: 'duty-watchdog-check',
      job: 'watchdog-check',
      variable: 'WATCHDOG_CHECK_SEC',
      repeat: every(config.WATCHDOG_CHECK_SEC),
    },
  ];
}

/**
 * Upserts each duty's job scheduler (idempotent across replicas and restarts) and removes those
 * turned off. An invalid cron pattern is a ConfigError naming its variable.
 */
export async function scheduleDuties(
  queue: Queue,
  config: Config,
): Promise<{ scheduled: string[]; removed: string[] }> {
  const scheduled: string[] = [];
  const removed: string[] = [];
  for (const s of dutySchedules(config)) {
    if (!s.repeat) {
      if (await queue.removeJobScheduler(s.id)) removed.push(s.id);
      continue;
    }
    try {
      await queue.upsertJobScheduler(s.id, s.repeat, { name: s.job, data: {} });
    } catch (err) {
      if ('pattern' in s.repeat)
        throw new ConfigError('configuration', [
          { path: s.variable, message: `is not a valid cron pattern: ${(err as Error).message}` },
        ]);
      throw err;
    }
    scheduled.push(s.id);
  }
  return { scheduled, removed };
}

// ---- the processor ---------------------------------------------------------------------------

/** The run's key: the scheduler's job id (`repeat:<scheduler>:<slot ms>`), one per slot. */
function runKeyOf(job: Job): string {
  return String(job.id ?? `manual-${job.timestamp}`);
}

function lastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

function transient(err: unknown): boolean {
  return (err instanceof QnwisError && err.transient) || err instanceof PrometheusUnavailableError;
}

export function createDutiesProcessor(deps: DutiesDeps) {
  return async function process(job: Job): Promise<unknown> {
    const name = job.name as keyof typeof dutiesJobs;
    const schema = dutiesJobs[name];
    if (!schema) throw new UnrecoverableError(`unknown duty job ${job.name}`);
    schema.parse(job.data);
    const log = deps.log.child({ duty: name, jobId: job.id });
    const runKey = runKeyOf(job);
    let outcome: string;
    try {
      switch (name) {
        case 'backup-check':
          outcome = await runBackupCheck(deps, runKey, lastAttempt(job), log);
          break;
        case 'slo-digest':
          outcome = await runSloDigest(deps, runKey, lastAttempt(job), log);
          break;
        case 'error-log-review':
          outcome = await runErrorLogReview(deps, runKey, log);
          break;
        case 'maintenance-check':
          outcome = await runMaintenanceCheck(deps, log);
          break;
        case 'watchdog-check': {
          if (!deps.watchdog) return 'dead-man switch off';
          const r = await checkWatchdog(deps.watchdog);
          return r.did.length > 0 ? r.did.join(', ') : r.healthy ? 'heartbeat ok' : 'heartbeat missing';
        }
      }
    } catch (err) {
      dutiesTotal.inc({ duty: name, outcome: 'error' });
      throw err;
    }
    dutiesTotal.inc({ duty: name, outcome: outcome.split(':')[0] ?? outcome });
    log.info({ outcome }, 'duty ran');
    return outcome;
  };
}

/**
 * Takes the run, does `work`, finishes it; a failure gives the run back so the retry can take it.
 * Null when another worker holds the run or it is done.
 */
async function once(
  deps: DutiesDeps,
  duty: string,
  runKey: string,
  work: (progress: Record<string, unknown>) => Promise<string>,
): Promise<string | null> {
  const run = await deps.duties.claimRun(duty, runKey);
  if (!run) return null;
  try {
    const outcome = await work(run.progress);
    await deps.duties.finishRun(duty, runKey, outcome);
    return outcome;
  } catch (err) {
    await deps.duties.releaseRun(duty, runKey);
    throw err;
  }
}

/** Posts a duty message, checked against Slack's limits first (a violation is a bug: never retried). */
async function post(deps: DutiesDeps, message: DutyMessage, threadTs?: string) {
  const problems = checkSlackLimits(message);
  if (problems.length > 0)
    throw new UnrecoverableError(`duty message breaks Slack's limits: ${problems.slice(0, 3).join('; ')}`);
  return deps.chat.postMessage(deps.channel, message, threadTs);
}

// ---- backup check ----------------------------------------------------------------------------

export async function readBackups(fleet: DiagnosticContext, now: Date): Promise<BackupVerdict> {
  const inv = fleet.inventory;
  const dir = inv.database.backupDir;
  const [host] = hostsWithRole(inv, 'db-primary');
  if (!host) return unreadableVerdict({ host: 'db-primary', dir }, 'the inventory has no database primary');
  const r = await fleet.ssh.run(host, backupList, { dir });
  return judgeBackups({ host: host.name, dir }, parseBackupListing(r.stdout), now);
}

export async function runBackupCheck(
  deps: DutiesDeps,
  runKey: string,
  final: boolean,
  log: Logger,
): Promise<string> {
  const now = (deps.now ?? (() => new Date()))();
  const outcome = await once(deps, 'backup-check', runKey, async (progress) => {
    let verdict: BackupVerdict;
    try {
      verdict = await readBackups(deps.fleet, now);
    } catch (err) {
      // A blink of the host is retried; still unreadable on the last attempt, nobody can confirm
      // last night's backup, and that is the finding.
      if (transient(err) && !final) throw err;
      const [host] = hostsWithRole(deps.fleet.inventory, 'db-primary');
      verdict = unreadableVerdict(
        { host: host?.name ?? 'db-primary', dir: deps.fleet.inventory.database.backupDir },
        describeFailure(err).headline,
      );
    }
    const incident = verdict.ok
      ? await resolveBackupIncident(deps, verdict, now)
      : await openBackupIncident(deps, verdict, now);
    if (!progress.message) {
      const posted = await post(
        deps,
        backupCheckMessage(
          verdict,
          now,
          verdict.ok ? null : incident ? { key: incident.key, channel: incident.channel } : null,
        ),
      );
      await deps.duties.saveProgress('backup-check', runKey, { message: posted.ts });
    }
    log.info({ ok: verdict.ok, summary: verdict.summary, incident: incident?.key }, 'backup check');
    return verdict.ok ? `ok: ${verdict.summary}` : `failed: ${verdict.summary}`;
  });
  return outcome ?? 'skipped: this run was taken by another worker';
}

function backupFingerprint(host: string): string {
  return createHash('sha256').update(`${BACKUP_ALERT}\u0000${host}`).digest('hex').slice(0, 16);
}

const BACKUP_GROUP_KEY = `{}:{alertname="${BACKUP_ALERT}"}`;

function backupNotification(
  verdict: BackupVerdict,
  status: 'firing' | 'resolved',
  startsAt: string,
  endsAt: string,
): AlertmanagerWebhook {
  const labels = { alertname: BACKUP_ALERT, severity: 'warning', service: 'postgres', host: verdict.host };
  return {
    version: '4',
    groupKey: BACKUP_GROUP_KEY,
    truncatedAlerts: 0,
    status,
    receiver: 'qnwis-chatops-duties',
    groupLabels: { alertname: BACKUP_ALERT },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: '',
    alerts: [
      {
        status,
        labels,
        annotations: {
          summary: `Daily backup check failed on ${verdict.host}`,
          description: verdict.summary.slice(0, 1000),
          runbook: 'Backup and Restore',
        },
        startsAt,
        endsAt,
        generatorURL: '',
        fingerprint: backupFingerprint(verdict.host),
      },
    ],
  };
}

async function openBackupIncidentRow(deps: DutiesDeps): Promise<IncidentRow | undefined> {
  return (await deps.store.openIncidents()).find((r) => r.groupKey === BACKUP_GROUP_KEY);
}

/** Records the failed check as a firing BackupCheckFailed alert: an incident, or the open one again. */
async function openBackupIncident(
  deps: DutiesDeps,
  verdict: BackupVerdict,
  now: Date,
): Promise<IncidentRow | undefined> {
  const open = await openBackupIncidentRow(deps);
  // The same startsAt while it stays open: a second failing day is the same alert, not news.
  const startsAt = open
    ? ((await deps.store.alerts(open.id))[0]?.startsAt ?? now.toISOString())
    : now.toISOString();
  const result = await deps.store.recordNotification(
    backupNotification(verdict, 'firing', startsAt, '0001-01-01T00:00:00Z'),
    deps.recordContext,
    now,
  );
  let row: IncidentRow | undefined;
  for (const touched of result.incidents) {
    row = await deps.store.get(touched.id);
    if (!row) continue;
    if (touched.opened) {
      // The evidence is the check itself: no playbook of host diagnostics would add to it.
      await deps.store.recordDiagnosis(row.id, {
        playbook: 'backup-check',
        runbook: 'Backup and Restore',
        verdict:
          `${verdict.summary}. Take one now with /qnwis backup; drill the restore with /qnwis verify-backup.`.slice(
            0,
            600,
          ),
        actions: [],
        results: [
          {
            diagnostic: 'backup-check',
            target: verdict.host,
            status: 'error',
            summary: verdict.summary.slice(0, 400),
            data: { dir: verdict.dir, newest: verdict.newest, backups: verdict.backupCount },
            durationMs: 0,
          },
        ],
        durationMs: 0,
      });
    }
    await enqueueIncidentSync(deps.queues, row.id, row.severity);
    if (deps.paging && pages(row.severity)) await enqueuePagerDuty(deps.queues, row.id);
  }
  return row ?? open;
}

/** A passing check resolves the incident a failed one opened (if it is still open). */
async function resolveBackupIncident(
  deps: DutiesDeps,
  verdict: BackupVerdict,
  now: Date,
): Promise<IncidentRow | undefined> {
  const open = await openBackupIncidentRow(deps);
  if (!open) return undefined;
  const startsAt = (await deps.store.alerts(open.id))[0]?.startsAt ?? open.openedAt.toISOString();
  await deps.store.recordNotification(
    backupNotification(verdict, 'resolved', startsAt, now.toISOString()),
    deps.recordContext,
    now,
  );
  await deps.store.addEvent(
    open.id,
    { kind: 'annotated', by: 'qnwis-chatops', detail: `The backup check passed: ${verdict.summary}` },
    'duties',
  );
  const row = await deps.store.get(open.id);
  if (row) {
    await enqueueIncidentSync(deps.queues, row.id, row.severity);
    if (deps.paging && pages(row.severity)) await enqueuePagerDuty(deps.queues, row.id);
  }
  return row;
}

// ---- SLO digest ------------------------------------------------------------------------------

/** One instant value per series (a range query of one point: the PrometheusClient's one call). */
async function instant(
  prometheus: RangeQuerier,
  expr: string,
  now: Date,
): Promise<{ labels: Record<string, string>; value: number }[]> {
  const r = await prometheus.queryRange(expr, { start: now, end: now, stepSec: 60 });
  return r.series.flatMap((s) => {
    const last = s.points.at(-1);
    return last ? [{ labels: s.labels, value: last[1] }] : [];
  });
}

export async function readSlo(
  prometheus: RangeQuerier,
  now: Date,
  windows: SloWindows = RUNBOOK_SLO_WINDOWS,
  job = 'qnwis',
): Promise<{ readings: SloReadings; problems: string[]; unavailable: unknown[] }> {
  const q = sloQueries(job);
  const problems: string[] = [];
  const unavailable: unknown[] = [];
  const one = async (label: string, expr: string): Promise<number | null> => {
    try {
      return (await instant(prometheus, expr, now))[0]?.value ?? null;
    } catch (err) {
      if (err instanceof PrometheusUnavailableError) unavailable.push(err);
      problems.push(`${label}: ${(err as Error).message}`);
      return null;
    }
  };
  const byType = async (window: string): Promise<Record<QueryType, number | null>> => {
    const out: Record<QueryType, number | null> = { simple: null, medium: null, complex: null };
    try {
      for (const s of await instant(prometheus, q.p95ByType(window), now)) {
        const t = s.labels.type as QueryType | undefined;
        if (t && (QUERY_TYPES as readonly string[]).includes(t)) out[t] = s.value;
      }
    } catch (err) {
      if (err instanceof PrometheusUnavailableError) unavailable.push(err);
      problems.push(`query p95 over ${window}: ${(err as Error).message}`);
    }
    return out;
  };
  const [avail, availRecent, coverage, p95w, p95r, errW, errR, hitW, hitR] = await Promise.all([
    one('availability', q.availability(windows.availability)),
    one('availability (recent)', q.availability(windows.recent)),
    one('availability coverage', q.availabilityCoverage(windows.availability)),
    byType(windows.latency),
    byType(windows.recent),
    one('error rate', q.errorRate(windows.errorRate)),
    one('error rate (recent)', q.errorRate(windows.recent)),
    one('cache hit rate', q.cacheHitRate(windows.cacheHitRate)),
    one('cache hit rate (recent)', q.cacheHitRate(windows.recent)),
  ]);
  const w = (window: number | null, recent: number | null): WindowedReading => ({ window, recent });
  return {
    readings: {
      availability: w(avail, availRecent),
      availabilityCoverageMinutes: coverage,
      p95Seconds: {
        simple: w(p95w.simple, p95r.simple),
        medium: w(p95w.medium, p95r.medium),
        complex: w(p95w.complex, p95r.complex),
      },
      errorRate: w(errW, errR),
      cacheHitRate: w(hitW, hitR),
    },
    problems: [...new Set(problems)],
    unavailable,
  };
}

export interface SloChart {
  readonly png: Buffer;
  readonly filename: string;
  readonly altText: string;
}

/** The query p95 of each type as a share of its target over the latency window, one PNG. */
export async function sloChart(
  prometheus: RangeQuerier,
  now: Date,
  windows: SloWindows = RUNBOOK_SLO_WINDOWS,
  job = 'qnwis',
): Promise<SloChart> {
  const q = sloQueries(job);
  const end = now.getTime();
  const start = end - promDurationMs(windows.latency);
  const stepSec = Math.max(60, Math.ceil((end - start) / 1000 / 288));
  const series: ChartSeries[] = [];
  for (const type of QUERY_TYPES) {
    const r = await prometheus.queryRange(q.p95ShareOfTarget(type, '5m'), { start, end, stepSec });
    for (const s of r.series)
      series.push({ labels: { type: `${type} (target ${targetOf(type)} s)` }, points: s.points });
  }
  const title = `Query p95 against its SLO target, last ${windows.latency}`;
  const svg = lineChartSvg({
    title,
    subtitle:
      'p95 of qnwis_query_duration_seconds by type (5 min rate) ÷ the runbook target (10 / 30 / 90 s)',
    series,
    threshold: { value: 1, label: 'SLO target' },
    start,
    end,
    width: 1000,
    height: 400,
    valueFormat: 'percent',
    stepMs: stepSec * 1000,
  });
  const lastOf = (s: ChartSeries) => s.points.at(-1)?.[1];
  const described = series
    .map(
      (s) =>
        `${s.labels.type}: ${lastOf(s) === undefined ? 'no data' : `${Math.round((lastOf(s) ?? 0) * 100)} % of target now`}`,
    )
    .join('; ');
  const iso = now.toISOString();
  return {
    png: renderPng(svg),
    filename: `slo-p95-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 16).replace(':', '')}Z.png`,
    altText: `Line chart "${title}": ${described || 'no data in this window'}. 100 % is the target.`.slice(
      0,
      1000,
    ),
  };
}

function targetOf(type: QueryType): number {
  return { simple: 10, medium: 30, complex: 90 }[type];
}

export async function runSloDigest(
  deps: DutiesDeps,
  runKey: string,
  final: boolean,
  log: Logger,
): Promise<string> {
  const now = (deps.now ?? (() => new Date()))();
  const prometheus = deps.prometheus;
  if (!prometheus) return 'skipped: no Prometheus in the inventory';
  const windows = deps.sloWindows ?? RUNBOOK_SLO_WINDOWS;
  const outcome = await once(deps, 'slo-digest', runKey, async (progress) => {
    const { readings, problems, unavailable } = await readSlo(prometheus, now, windows);
    // Prometheus not answering at all is worth a retry; on the last attempt the digest says so.
    if (unavailable.length > 0 && !final) throw unavailable[0];
    let chart: SloChart | null = null;
    try {
      chart = await sloChart(prometheus, now, windows);
    } catch (err) {
      if (transient(err) && !final) throw err;
      problems.push(`chart: ${(err as Error).message}`);
      log.warn({ err }, 'SLO chart could not be drawn');
    }
    const figures = sloFigures(readings, windows);
    let ts = typeof progress.message === 'string' ? progress.message : null;
    let channelId = typeof progress.channel === 'string' ? progress.channel : deps.channel;
    if (!ts) {
      const posted = await post(
        deps,
        sloDigestMessage({ figures, windows, now, chart: chart !== null, problems }),
      );
      ts = posted.ts;
      channelId = posted.channel;
      await deps.duties.saveProgress('slo-digest', runKey, { message: ts, channel: channelId });
    }
    if (chart && !progress.chart) {
      const file = await deps.chat.uploadFile(
        channelId,
        {
          filename: chart.filename,
          title: 'Query p95 against its SLO target',
          content: chart.png,
          altText: chart.altText,
        },
        ts,
      );
      await deps.duties.saveProgress('slo-digest', runKey, { chart: file.fileId });
    }
    return `posted: ${sloHeadline(figures, windows)}`;
  });
  return outcome ?? 'skipped: this run was taken by another worker';
}

// ---- error-log review ------------------------------------------------------------------------

/** Lines read per log: a day of a busy app's error log (the byte cap bounds it too). */
export const ERROR_LOG_REVIEW_LINES = 20_000;

/** Every error log the inventory names (services' `error` logs), on every host running the service. */
export function errorLogTargets(inv: Inventory): { host: string; service: string; file: string }[] {
  const out: { host: string; service: string; file: string }[] = [];
  for (const host of inv.hosts.values()) {
    for (const service of servicesOn(inv, host, (s) => Object.hasOwn(s.logs, 'error'))) {
      const file = service.logs.error;
      if (file) out.push({ host: host.name, service: service.name, file });
    }
  }
  return out;
}

export async function readErrorLogs(fleet: DiagnosticContext): Promise<LogSource[]> {
  return Promise.all(
    errorLogTargets(fleet.inventory).map(async (t): Promise<LogSource> => {
      const host = fleet.inventory.hosts.get(t.host);
      if (!host) return { ...t, lines: [], capped: false, error: 'not in the inventory' };
      try {
        const r = await fleet.ssh.run(host, errorLogWindow, {
          file: t.file,
          lines: ERROR_LOG_REVIEW_LINES,
          bytes: ERROR_LOG_REVIEW_BYTES,
        });
        if (r.exitCode === NO_SUCH_LOG) return { ...t, lines: [], capped: false, missing: true };
        const lines = r.stdout.split('\n');
        if (lines.at(-1) === '') lines.pop();
        const byBytes = Buffer.byteLength(r.stdout) >= ERROR_LOG_REVIEW_BYTES || r.truncated;
        // `tail -c` may have cut the first line in half: it is not a line of the log.
        if (byBytes) lines.shift();
        return { ...t, lines, capped: byBytes || lines.length >= ERROR_LOG_REVIEW_LINES };
      } catch (err) {
        return { ...t, lines: [], capped: false, error: describeFailure(err).headline };
      }
    }),
  );
}

export async function runErrorLogReview(deps: DutiesDeps, runKey: string, log: Logger): Promise<string> {
  const now = (deps.now ?? (() => new Date()))();
  const outcome = await once(deps, 'error-log-review', runKey, async (progress) => {
    const sources = await readErrorLogs(deps.fleet);
    const previous = await deps.duties.previousRun('error-log-review', runKey);
    let baseline: Map<string, Set<string>> | null = null;
    if (previous) {
      const patterns = await deps.duties.reviewPatterns(previous.runKey);
      const hosts = Array.isArray(previous.progress.hosts) ? (previous.progress.hosts as string[]) : [];
      baseline = new Map(hosts.map((h) => [h, patterns.get(h) ?? new Set<string>()]));
    }
    const review = reviewErrorLogs(sources, baseline, { now });
    await deps.duties.saveReviewPatterns(runKey, now, baselineOf(review));
    await deps.duties.saveProgress('error-log-review', runKey, { hosts: readableHosts(review) });
    if (!progress.message) {
      const posted = await post(deps, errorLogReviewMessage(review, now));
      await deps.duties.saveProgress('error-log-review', runKey, { message: posted.ts });
    }
    log.info(
      { lines: review.totalLines, newPatterns: review.newPatterns, hosts: review.hosts.length },
      'error-log review',
    );
    return `posted: ${review.totalLines} lines, ${review.newPatterns} new patterns`;
  });
  // Reviews older than a month are no one's baseline.
  await deps.duties.prune(30);
  return outcome ?? 'skipped: this run was taken by another worker';
}

// ---- maintenance announcement ----------------------------------------------------------------

export async function runMaintenanceCheck(deps: DutiesDeps, log: Logger): Promise<string> {
  const now = (deps.now ?? (() => new Date()))();
  const announcement = maintenanceAnnouncementAt(now, deps.maintenance);
  if (!announcement) return 'not due';
  const outcome = await once(deps, 'maintenance-announcement', announcement.window.id, async () => {
    await post(deps, maintenanceAnnouncementMessage(announcement));
    log.info({ window: announcement.window.id }, 'maintenance window announced');
    return `announced: ${announcement.window.id}`;
  });
  return outcome ?? `announced already: ${announcement.window.id}`;
}

// ---- start-up --------------------------------------------------------------------------------

export interface StartDutiesOptions {
  config: Config;
  inventory: Inventory;
  /** The workers' Redis connection (maxRetriesPerRequest: null). */
  connection: Redis;
  queues: Queues;
  store: IncidentStore;
  /** The fleet's diagnostic context (createFleetOps(...).context). */
  fleet: DiagnosticContext;
  /** A ChatClient that waits out 429s (PatientChatClient): duty messages are not paced elsewhere. */
  chat: ChatClient;
  recordContext: RecordContext;
  log: Logger;
  /** Worker concurrency (default 2: a slow SSH read must not hold up the dead-man switch). */
  concurrency?: number;
}

export interface RunningDuties {
  readonly worker: Worker;
  readonly duties: DutyStore;
  close(): Promise<void>;
}

/** Schedules the duties and starts their worker: what src/main.ts calls in the worker role. */
export async function startDuties(opts: StartDutiesOptions): Promise<RunningDuties> {
  const { config, inventory } = opts;
  const duties = new DutyStore(opts.store.db);
  const prometheusUrl = inventory.monitoring.prometheusUrl;
  const alertmanagerUrl = inventory.monitoring.alertmanagerUrl;
  const heartbeat =
    config.HEARTBEAT_ALERTS.split(',')
      .map((s) => s.trim())
      .find(Boolean) ?? 'Watchdog';
  const watchdog: WatchdogDeps | null =
    config.WATCHDOG_CHECK_SEC > 0
      ? {
          store: opts.store,
          duties,
          chat: opts.chat,
          pager: config.PAGERDUTY_ROUTING_KEY
            ? {
                events: createEventsApiClient(config.PAGERDUTY_EVENTS_URL),
                routingKey: config.PAGERDUTY_ROUTING_KEY,
              }
            : null,
          // The channel alerts would have reached: where the on-call looks for them.
          channel: config.SLACK_DEFAULT_CHANNEL,
          heartbeat,
          maxSilenceMs: config.WATCHDOG_MAX_SILENCE_SEC * 1000,
          watchingSince: new Date(),
          links: {
            ...(alertmanagerUrl ? { alertmanager: alertmanagerUrl } : {}),
            ...(prometheusUrl
              ? { prometheus: new URL('alerts', `${prometheusUrl.replace(/\/$/, '')}/`).toString() }
              : {}),
          },
          log: opts.log,
        }
      : null;
  if (!watchdog) opts.log.warn('WATCHDOG_CHECK_SEC is 0: the dead-man switch is off');
  const processor = createDutiesProcessor({
    store: opts.store,
    duties,
    queues: opts.queues,
    fleet: opts.fleet,
    prometheus: prometheusUrl ? new PrometheusClient(prometheusUrl) : null,
    chat: opts.chat,
    channel: config.DUTIES_CHANNEL,
    recordContext: opts.recordContext,
    paging: Boolean(config.PAGERDUTY_ROUTING_KEY),
    maintenance: escalationMatrixFrom(config.ESCALATION_MATRIX).maintenance,
    watchdog,
    log: opts.log,
  });
  const { scheduled, removed } = await scheduleDuties(opts.queues.duties, config);
  opts.log.info({ scheduled, removed }, 'scheduled duties');
  const worker = new Worker(QUEUE_NAMES.duties, processor, {
    connection: opts.connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: opts.concurrency ?? 2,
  });
  worker.on('completed', () => jobsTotal.inc({ queue: 'duties', outcome: 'completed' }));
  worker.on('failed', (job, err) => {
    jobsTotal.inc({ queue: 'duties', outcome: 'failed' });
    opts.log.error({ err, jobId: job?.id, job: job?.name }, 'duty job failed');
  });
  return { worker, duties, close: () => worker.close() };
}
