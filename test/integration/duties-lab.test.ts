/**
 * The scheduled duties against the real lab (issue 7, item 6): the backup check over SSH on the
 * db host's real backup directory, the SLO digest from the lab's real Prometheus (with its chart
 * uploaded to the Slack stand-in), the error-log review of the hosts' real error logs (an
 * error-rate fault makes fresh errors), the maintenance announcement once per window, and the job
 * schedulers themselves (two workers, one run per slot).
 *
 * Only the bot's side is local to this file: its own schema, queue prefix and Slack stand-in. The
 * lab is left as found: the backup this file takes and its test directory under /backups are
 * removed, the fault is healed in `finally`.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Faults } from '../../lab/faults.js';
import { createWebClient, PatientChatClient, SlackChatClient } from '../../src/bot/chat.js';
import { parseConfig } from '../../src/config.js';
import { type SlackLocal, startSlackLocal } from '../../src/dev/slack/index.js';
import { SshUnreachableError } from '../../src/errors.js';
import { DEFAULT_MAINTENANCE } from '../../src/incidents/escalation.js';
import { createRouter, DEFAULT_ROUTES } from '../../src/incidents/routing.js';
import type { Inventory } from '../../src/inventory.js';
import {
  createDutiesProcessor,
  type DutiesDeps,
  readErrorLogs,
  readSlo,
  runBackupCheck,
  runErrorLogReview,
  runMaintenanceCheck,
  runSloDigest,
  scheduleDuties,
} from '../../src/jobs/duties.js';
import { createQueues, QUEUE_NAMES, type Queues } from '../../src/jobs/queues.js';
import { silentLogger } from '../../src/observability/logger.js';
import { defineRemoteCommand } from '../../src/ops/adapters/ssh.js';
import { backup } from '../../src/ops/commands/index.js';
import { PrometheusClient } from '../../src/ops/prometheus.js';
import { DutyStore } from '../../src/store/duties.js';
import { IncidentStore, type RecordContext } from '../../src/store/incidents.js';
import { type LabFleet, openLabFleet } from '../support/fleet.js';
import { lab } from '../support/lab.js';
import { createTestStore, type TestStore } from '../support/store.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const OPS = 'qnwis-ops';

let store: TestStore;
let incidents: IncidentStore;
let duties: DutyStore;
let redis: Redis;
let queues: Queues;
let slack: SlackLocal;
let fleet: LabFleet;
let prefix: string;
const createdBackups: string[] = [];

const recordContext: RecordContext = {
  router: createRouter(DEFAULT_ROUTES, 'qnwis-alerts'),
  appHosts: ['app-01', 'app-02', 'app-03'],
  heartbeatAlerts: new Set(['Watchdog']),
};

function deps(over: Partial<DutiesDeps> = {}): DutiesDeps {
  const web = createWebClient('xoxb-duties-test', slack.apiUrl);
  return {
    store: incidents,
    duties,
    queues,
    fleet: fleet.ctx,
    prometheus: new PrometheusClient(`http://${lab.prometheusListen}`),
    chat: new PatientChatClient(new SlackChatClient(web)),
    channel: OPS,
    recordContext,
    paging: false,
    maintenance: DEFAULT_MAINTENANCE,
    watchdog: null,
    log: silentLogger,
    ...over,
  };
}

interface Message {
  ts: string;
  thread_ts: string | null;
  text: string;
  blocks: unknown[];
  files: { name: string; mimetype: string; url_private: string }[];
}

async function messages(channel = OPS): Promise<Message[]> {
  const res = await fetch(`${slack.url}/_local/messages?channel=${channel}`);
  return (await res.json()) as Message[];
}

// ---- remote set-up of a test backup directory (a subdirectory: the real listing never sees it)

const testDir = z.string().regex(/^\/backups\/duty-check-[0-9a-f]{12}$/);
const backupPathArg = z.string().regex(/^\/backups\/[A-Za-z0-9_/.-]+\.sql\.gz$/);
const mkdir = defineRemoteCommand({
  name: 'test-duty-mkdir',
  script: 'mkdir -p {{dir}}',
  args: { dir: testDir },
  timeoutSec: 10,
});
const copyAs = defineRemoteCommand({
  name: 'test-duty-copy-as',
  script: 'cp {{src}} {{dst}} && touch -d {{when}} {{dst}}',
  args: { src: backupPathArg, dst: backupPathArg, when: z.string().regex(/^@[0-9]+$/) },
  timeoutSec: 30,
});
const writeTiny = defineRemoteCommand({
  name: 'test-duty-tiny',
  script: 'echo cut-short | gzip -c > {{dst}} && touch -d {{when}} {{dst}}',
  args: { dst: backupPathArg, when: z.string().regex(/^@[0-9]+$/) },
  timeoutSec: 10,
});
const removeDir = defineRemoteCommand({
  name: 'test-duty-rmdir',
  script: 'rm -rf {{dir}}',
  args: { dir: testDir },
  timeoutSec: 10,
});
const removeFile = defineRemoteCommand({
  name: 'test-duty-rm',
  script: 'rm -f {{file}}',
  args: { file: backupPathArg },
  timeoutSec: 10,
});

const epoch = (d: Date) => `@${Math.floor(d.getTime() / 1000)}`;
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

function dbPrimary() {
  const host = fleet.inventory.hosts.get('db-primary');
  if (!host) throw new Error('no db-primary in the lab inventory');
  return host;
}

beforeAll(async () => {
  store = await createTestStore();
  incidents = new IncidentStore(store.db);
  duties = new DutyStore(store.db);
  prefix = `{tduty${randomBytes(4).toString('hex')}}`;
  redis = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: null });
  queues = createQueues(redis, prefix);
  slack = await startSlackLocal({ signingSecret: randomBytes(16).toString('hex'), port: 0 });
  fleet = await openLabFleet({ stepTimeoutMs: 10_000 });
});

afterAll(async () => {
  for (const file of createdBackups)
    await fleet?.ssh.run(dbPrimary(), removeFile, { file }).catch(() => undefined);
  await queues?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis?.disconnect();
  await slack?.close();
  await fleet?.close();
  await store?.drop();
});

describe('backup check on the db host', () => {
  let fresh: string;

  it('passes with a backup just taken by the runbook backup command', async () => {
    const plan = await backup.plan(fleet.ctx, {});
    const outcome = await backup.run(fleet.ctx, {}, plan, async () => {}, new AbortController().signal);
    expect(outcome.status, outcome.detail).toBe('succeeded');
    fresh = `/backups/${String(outcome.observations.file)}`;
    createdBackups.push(fresh);

    const result = await runBackupCheck(deps(), 'it-backup-fresh', true, silentLogger);
    expect(result).toMatch(/^ok: qnwis_prod_\d{8}_\d{6}\.sql\.gz, \d+ m?s old, /);
    expect(result).toContain(String(outcome.observations.file));
    expect(await incidents.openIncidents()).toEqual([]);
    const posted = (await messages()).filter((m) => m.text.startsWith('✅ Backup check'));
    expect(posted).toHaveLength(1);
    // The run is once: the same slot delivered again posts nothing.
    expect(await runBackupCheck(deps(), 'it-backup-fresh', true, silentLogger)).toBe(
      'skipped: this run was taken by another worker',
    );
    expect((await messages()).filter((m) => m.text.startsWith('✅ Backup check'))).toHaveLength(1);
  }, 90_000);

  it('opens an incident when the newest backup is old, keeps it while too small, resolves it when fresh', async () => {
    const dir = `/backups/duty-check-${randomBytes(6).toString('hex')}`;
    const host = dbPrimary();
    const inventory: Inventory = {
      ...fleet.inventory,
      database: { ...fleet.inventory.database, backupDir: dir },
    };
    const d = deps({ fleet: { ...fleet.ctx, inventory } });
    await fleet.ssh.run(host, mkdir, { dir });
    try {
      // Three nightly backups, the newest 30 h old: last night's did not happen.
      for (const [i, h] of [30, 54, 78].entries())
        await fleet.ssh.run(host, copyAs, {
          src: fresh,
          dst: `${dir}/qnwis_prod_2026010${i}_020000.sql.gz`,
          when: epoch(hoursAgo(h)),
        });

      const failed = await runBackupCheck(d, 'it-backup-old', true, silentLogger);
      expect(failed).toMatch(
        /^failed: the newest backup, qnwis_prod_20260100_020000\.sql\.gz, is 30 h( \d+ min)? old/,
      );
      const [incident] = await incidents.openIncidents();
      expect(incident).toMatchObject({
        alertname: 'BackupCheckFailed',
        severity: 'SEV-3',
        status: 'firing',
        channel: 'qnwis-db',
      });
      expect(incident?.diagnosisVerdict).toContain('/qnwis backup');
      const slackJobs = await queues.slack.getJobs(['waiting', 'prioritized', 'delayed']);
      expect(slackJobs.some((j) => j.name === 'incident-sync' && j.data.incidentId === incident?.id)).toBe(
        true,
      );
      const note = (await messages()).find((m) => m.text.startsWith('❌ Backup check failed'));
      expect(JSON.stringify(note?.blocks)).toContain(`Opened incident *${incident?.key}* in #qnwis-db`);

      // A fresh but cut-short backup: still failing, the same incident (not a second one).
      await fleet.ssh.run(host, writeTiny, {
        dst: `${dir}/qnwis_prod_20260110_020000.sql.gz`,
        when: epoch(hoursAgo(0.1)),
      });
      const small = await runBackupCheck(d, 'it-backup-small', true, silentLogger);
      expect(small).toMatch(/^failed: qnwis_prod_20260110_020000\.sql\.gz is \d+ B, below the 16\.0 KiB/);
      expect((await incidents.openIncidents()).map((r) => r.id)).toEqual([incident?.id]);

      // Tonight's backup arrives: the check passes and resolves the incident, saying why.
      await fleet.ssh.run(host, copyAs, {
        src: fresh,
        dst: `${dir}/qnwis_prod_20260111_020000.sql.gz`,
        when: epoch(new Date()),
      });
      expect(await runBackupCheck(d, 'it-backup-back', true, silentLogger)).toMatch(
        /^ok: qnwis_prod_20260111_020000/,
      );
      const resolved = await incidents.get(incident?.id ?? 0);
      expect(resolved?.status).toBe('resolved');
      const timeline = await incidents.timeline(incident?.id ?? 0);
      expect(
        timeline.some(
          (e) => e.kind === 'annotated' && String(e.data.detail).startsWith('The backup check passed'),
        ),
      ).toBe(true);
    } finally {
      await fleet.ssh.run(host, removeDir, { dir });
    }
  }, 90_000);

  it('a db host that does not answer is retried, and a failed check on the last attempt', async () => {
    // The host's sshd refusing connections, as the SSH adapter reports it (stopping the lab's
    // db-primary sshd would disturb everyone; a different address fails the host-key pin first).
    const refusing = {
      run: async () => {
        throw new SshUnreachableError('db-primary', 'connect ECONNREFUSED 127.0.2.1:2222');
      },
    };
    const d = deps({ fleet: { ...fleet.ctx, ssh: refusing } });
    await expect(runBackupCheck(d, 'it-backup-down', false, silentLogger)).rejects.toThrow(
      /ssh to host "db-primary"/,
    );
    // The run was given back: the retry (here the last attempt) takes it and reports the failure.
    const last = await runBackupCheck(d, 'it-backup-down', true, silentLogger);
    expect(last).toMatch(/^failed: cannot list \/backups on db-primary: not reachable over SSH/);
    const open = (await incidents.openIncidents()).filter((r) => r.alertname === 'BackupCheckFailed');
    expect(open).toHaveLength(1);
    // The next passing check (the real host again) resolves it.
    expect(await runBackupCheck(deps(), 'it-backup-up-again', true, silentLogger)).toMatch(/^ok: /);
    expect((await incidents.get(open[0]?.id ?? 0))?.status).toBe('resolved');
  }, 60_000);

  it('a backup directory that does not exist is a failed check at once (nothing to retry)', async () => {
    const inventory: Inventory = {
      ...fleet.inventory,
      database: { ...fleet.inventory.database, backupDir: '/backups/duty-check-000000000000' },
    };
    const result = await runBackupCheck(
      deps({ fleet: { ...fleet.ctx, inventory } }),
      'it-backup-no-dir',
      false,
      silentLogger,
    );
    expect(result).toMatch(
      /^failed: cannot list \/backups\/duty-check-000000000000 on db-primary: remote command failed/,
    );
    await runBackupCheck(deps(), 'it-backup-no-dir-after', true, silentLogger);
  }, 30_000);
});

describe('SLO digest from the lab Prometheus', () => {
  it('reads every runbook SLO with a value in range', async () => {
    const { readings, problems } = await readSlo(
      new PrometheusClient(`http://${lab.prometheusListen}`),
      new Date(),
    );
    expect(problems).toEqual([]);
    const { availability, p95Seconds, errorRate, cacheHitRate } = readings;
    expect(availability.window).toBeGreaterThan(0.5);
    expect(availability.window).toBeLessThanOrEqual(1);
    expect(readings.availabilityCoverageMinutes).toBeGreaterThan(0);
    // The lab's load runs queries of every type.
    for (const t of ['simple', 'medium', 'complex'] as const) {
      expect(p95Seconds[t].window).toBeGreaterThan(0);
      expect(p95Seconds[t].window).toBeLessThan(120);
    }
    expect(errorRate.window).toBeGreaterThanOrEqual(0);
    expect(errorRate.window).toBeLessThan(1);
    expect(cacheHitRate.window).toBeGreaterThan(0);
    expect(cacheHitRate.window).toBeLessThanOrEqual(1);
  }, 30_000);

  it('posts the digest with the figures and the p95 chart (a PNG) in its thread', async () => {
    const result = await runSloDigest(deps(), 'it-slo', true, silentLogger);
    expect(result).toMatch(/^posted: /);
    const all = await messages();
    const digest = all.find((m) => m.text.startsWith('📊 SLO digest'));
    expect(digest).toBeDefined();
    const blocks = JSON.stringify(digest?.blocks);
    for (const label of [
      'Availability',
      'Simple query p95',
      'Medium query p95',
      'Complex query p95',
      'Error rate',
      'Cache hit rate',
    ])
      expect(blocks).toContain(`*${label}*`);
    const chart = all.find((m) => m.thread_ts === digest?.ts && m.files.length > 0)?.files[0];
    expect(chart?.name).toMatch(/^slo-p95-\d{8}-\d{4}Z\.png$/);
    const png = Buffer.from(await (await fetch(chart?.url_private ?? '')).arrayBuffer());
    expect(png.subarray(0, 8).equals(PNG)).toBe(true);
  }, 60_000);
});

describe('error-log review of the lab hosts', () => {
  it('reads every host error log; patterns the previous review lacked are flagged new, the others not', async () => {
    const faults = new Faults(lab);
    expect(await runErrorLogReview(deps(), 'it-review-1', silentLogger)).toMatch(/^posted: /);
    // The inventory's error logs: the app hosts' and the load balancer's.
    expect((await duties.getRun('error-log-review', 'it-review-1'))?.progress.hosts).toEqual([
      'app-01',
      'app-02',
      'app-03',
      'lb',
    ]);
    // As if app-01 had been quiet at the previous review: whatever it logs now is new there.
    await store.db.query("DELETE FROM error_log_patterns WHERE run_key = 'it-review-1' AND host = 'app-01'");
    const baseline = await duties.reviewPatterns('it-review-1');

    const since = Date.now();
    const freshPool = (lines: readonly string[]) =>
      lines.some((l) => {
        try {
          const j = JSON.parse(l) as { ts: string; msg: string };
          return Date.parse(j.ts) > since && j.msg.includes('connection pool exhausted');
        } catch {
          return false;
        }
      });
    try {
      await faults.inject('error-rate', 'app-01');
      // Until app-01 has failed a query with "connection pool exhausted" (a quarter of its failures).
      for (let i = 0; ; i++) {
        const app01 = (await readErrorLogs(fleet.ctx)).find((s) => s.host === 'app-01');
        if (freshPool(app01?.lines ?? [])) break;
        if (i > 60) throw new Error('app-01 logged no connection pool error in 30 s of the error-rate fault');
        await sleep(500);
      }
    } finally {
      await faults.heal('error-rate');
    }
    await runErrorLogReview(deps(), 'it-review-2', silentLogger);
    const second = await duties.reviewPatterns('it-review-2');
    const expectedNew = [...second].reduce(
      (n, [host, patterns]) =>
        n + [...patterns].filter((p) => !(baseline.get(host) ?? new Set()).has(p)).length,
      0,
    );
    const app01 = [...(second.get('app-01') ?? [])];
    expect(app01).toContain('query failed: connection pool exhausted (pool size <n>, <n> waiting)');
    expect(expectedNew).toBeGreaterThanOrEqual(app01.length);

    const msg = (await messages()).filter((m) => m.text.startsWith('🔎 Error-log review')).at(-1);
    expect(msg?.text).toContain(`, ${expectedNew} new pattern`);
    const blocks = JSON.stringify(msg?.blocks);
    expect(blocks).toContain('🆕 *×');
    expect(blocks).toContain('connection pool exhausted (pool size &lt;n&gt;, &lt;n&gt; waiting)');
  }, 120_000);
});

describe('maintenance announcement', () => {
  it('announces the window 48 h ahead, once, even when two workers check at the same moment', async () => {
    const d = deps({ now: () => new Date('2026-12-11T02:05:00Z') });
    const both = await Promise.all([
      runMaintenanceCheck(d, silentLogger),
      runMaintenanceCheck(d, silentLogger),
    ]);
    expect(both.sort()).toEqual([
      'announced already: maintenance-2026-12-13',
      'announced: maintenance-2026-12-13',
    ]);
    expect(await runMaintenanceCheck(d, silentLogger)).toBe('announced already: maintenance-2026-12-13');
    const posted = (await messages()).filter((m) => m.text.startsWith('🛠️ Scheduled maintenance'));
    expect(posted.map((m) => m.text)).toEqual([
      '🛠️ Scheduled maintenance Sunday 13 December 2026, 02:00–04:00 UTC (in 47 h 55 min)',
    ]);
    expect(
      await runMaintenanceCheck(deps({ now: () => new Date('2026-12-08T00:00:00Z') }), silentLogger),
    ).toBe('not due');
  });
});

describe('job schedulers', () => {
  it('two workers, one digest per cron slot', async () => {
    const config = parseConfig({
      DUTY_SLO_DIGEST_CRON: '*/3 * * * * *',
      DUTY_BACKUP_CHECK_CRON: 'off',
      DUTY_ERROR_LOG_REVIEW_CRON: 'off',
      DUTY_MAINTENANCE_CHECK_SEC: '0',
      WATCHDOG_CHECK_SEC: '0',
    });
    const scheduled = await scheduleDuties(queues.duties, config);
    expect(scheduled.scheduled).toEqual(['duty-slo-digest']);
    // Upserting again (a second replica starting) changes nothing.
    await scheduleDuties(queues.duties, config);
    expect((await queues.duties.getJobSchedulers()).map((s) => s.key)).toEqual(['duty-slo-digest']);
    const before = (await messages()).filter((m) => m.text.startsWith('📊 SLO digest')).length;
    const workers = [1, 2].map(
      () =>
        new Worker(QUEUE_NAMES.duties, createDutiesProcessor(deps()), {
          connection: redis,
          prefix,
          concurrency: 2,
        }),
    );
    try {
      for (let i = 0; ; i++) {
        const runs = await store.db.query(
          "SELECT count(*)::int AS n FROM duty_runs WHERE duty = 'slo-digest' AND run_key LIKE 'repeat:%' AND finished_at IS NOT NULL",
        );
        if (Number(runs.rows[0]?.n) >= 3) break;
        if (i > 120) throw new Error('fewer than three scheduled digests in 30 s');
        await sleep(250);
      }
    } finally {
      await queues.duties.removeJobScheduler('duty-slo-digest');
      await Promise.all(workers.map((w) => w.close()));
    }
    const runs = await store.db.query(
      "SELECT run_key FROM duty_runs WHERE duty = 'slo-digest' AND run_key LIKE 'repeat:duty-slo-digest:%' AND finished_at IS NOT NULL",
    );
    const slots = runs.rows.map((r) => Number(String(r.run_key).split(':').at(-1)));
    // Every slot is a whole cron step (every 3 s), distinct.
    expect(new Set(slots).size).toBe(slots.length);
    for (const s of slots) expect(s % 3000).toBe(0);
    const digests = (await messages()).filter((m) => m.text.startsWith('📊 SLO digest')).length - before;
    expect(digests).toBe(slots.length);
  }, 60_000);
});
