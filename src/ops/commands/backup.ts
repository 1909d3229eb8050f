/**
 * `backup` — runbook "Backup and Restore" → "Manual Database Backup":
 * `ssh db-primary; sudo -u postgres pg_dump qnwis_prod | gzip > /backups/qnwis_$(date +%Y%m%d_%H%M%S).sql.gz`,
 * then the runbook's "Verify backup" made strict: `gzip -t`, the size, and the dump's own trailer.
 *
 * - Where: on the database primary over SSH, into `inventory.database.backup_dir`, named
 *   `<database>_YYYYmmdd_HHMMSS.sql.gz` (UTC, from the bot's clock at the start of the run).
 * - Credentials: none travel. `sudo -u postgres pg_dump` authenticates by peer identity on the
 *   host's Unix socket, exactly as the runbook does, so no password is on a command line, in an
 *   environment variable or in a log. (The SSH adapter has no environment passing, and a .pgpass
 *   would be one more secret on the host.) In the lab each database host's sessions carry PGHOST =
 *   its own cluster's socket directory (lab/lab.ts `hostEnv`), as the default socket is on a server.
 * - Atomic: the dump is written to `<file>.partial` (mode 0600: it holds every row), tested with
 *   `gzip -t`, and only then published under its final name with `ln` (which refuses to overwrite).
 *   A dump that fails, or a stream that gzip cannot read back, is removed; a run killed mid-way
 *   leaves at most a `.partial`, which no listing counts as a backup. `sh` has no pipefail, so the
 *   script carries pg_dump's exit status out of the pipe on file descriptor 3.
 * - plan: host, target file pattern, database size, current newest backup; precheck: the backup
 *   directory exists and is writable and has at least the database's size free (a plain dump is
 *   about the size of the table data and gzip only shrinks it), the host answers.
 * - verify: the new file is listed in the backup directory as the newest, its size is plausible
 *   (at least `minBytes`), and a full read of it (`gzip -dc | tail`) succeeds and ends with
 *   pg_dump's "PostgreSQL database dump complete" trailer.
 */
import { z } from 'zod';
import { type Host, hostsWithRole, type Inventory } from '../../inventory.js';
import { defineRemoteCommand } from '../adapters/ssh.js';
import { diagnose, formatBytes, formatDuration, oneLine, plural } from '../diagnostics/common.js';
import type { DiagnosticResult } from '../diagnostics/types.js';
import type { CommandArgs, CommandName } from './catalog.js';
import { errorText, runSteps } from './steps.js';
import {
  type CommandContext,
  type CommandModule,
  type CommandPlan,
  PlanRefusedError,
  type PrecheckResult,
  type VerifyResult,
} from './types.js';

export type BackupArgs = CommandArgs['backup'];

// ---------------------------------------------------------------------------------------------
// Names and parsing (pure; exported for the unit tests and verify-backup)

/** A backup's file name: `<name>_YYYYmmdd_HHMMSS.sql.gz` (the runbook writes `qnwis_…`, this command `<database>_…`). */
export const BACKUP_NAME = /^[a-z0-9_]{1,63}_[0-9]{8}_[0-9]{6}\.sql\.gz$/;

/** `qnwis_prod` + 2026-03-01T10:04:05Z → `qnwis_prod_20260301_100405.sql.gz` (UTC). */
export function backupFileName(database: string, at: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    `${p(at.getUTCFullYear(), 4)}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}_` +
    `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  const name = `${database}_${stamp}.sql.gz`;
  if (!BACKUP_NAME.test(name)) throw new TypeError(`not a backup file name: ${name}`);
  return name;
}

/** What the plan shows as the target: `qnwis_prod_YYYYmmdd_HHMMSS.sql.gz`. */
export const backupFilePattern = (database: string): string => `${database}_YYYYmmdd_HHMMSS.sql.gz`;

/** `dir` + `name` with exactly one slash. */
export function backupPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

export type BackupFile = {
  readonly name: string;
  readonly bytes: number;
  /** Modification time, ISO-8601 UTC (whole seconds). */
  readonly modifiedAt: string;
};

/**
 * `find DIR -maxdepth 1 -type f -name '*.sql.gz' -printf '%T@ %s %f\n'` → the backups, newest
 * first (by modification time, then name). Lines that are not a backup name are ignored (a
 * `.partial`, anything else someone put there).
 */
export function parseBackupListing(stdout: string): BackupFile[] {
  const files: { f: BackupFile; t: number }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([0-9]+(?:\.[0-9]+)?) ([0-9]+) (.+)$/.exec(line.trim());
    if (!m?.[1] || !m[2] || !m[3] || !BACKUP_NAME.test(m[3])) continue;
    const t = Number(m[1]);
    const bytes = Number(m[2]);
    if (!Number.isFinite(t) || !Number.isSafeInteger(bytes)) continue;
    files.push({ f: { name: m[3], bytes, modifiedAt: new Date(Math.floor(t) * 1000).toISOString() }, t });
  }
  files.sort((a, b) => b.t - a.t || (a.f.name < b.f.name ? 1 : a.f.name > b.f.name ? -1 : 0));
  return files.map((x) => x.f);
}

/** `df -Pk DIR` → available bytes and mount point, or undefined when it is not df's format. */
export function parseDfAvailable(stdout: string): { availableBytes: number; mount: string } | undefined {
  const lines = stdout.trim().split('\n');
  const last = lines.at(-1);
  if (lines.length < 2 || !last) return undefined;
  const m = /^\S+\s+[0-9]+\s+[0-9]+\s+([0-9]+)\s+[0-9]+%\s+(.+)$/.exec(last.trim());
  if (!m?.[1] || !m[2]) return undefined;
  return { availableBytes: Number(m[1]) * 1024, mount: m[2] };
}

export type BackupInspection = {
  readonly bytes: number;
  readonly modifiedAt: string;
  /** gzip -dc's exit status over the whole file (0: every block and the CRC checked). */
  readonly gzipExit: number;
  /** The dump ends with pg_dump's "PostgreSQL database dump complete" trailer. */
  readonly complete: boolean;
};

/** Output of `backupInspect` → the inspection, or undefined when it is not that format. */
export function parseInspection(stdout: string): BackupInspection | undefined {
  const lines = stdout.trimEnd().split('\n');
  const head = /^size ([0-9]+) mtime ([0-9]+)$/.exec(lines[0]?.trim() ?? '');
  const tail = /^gzip-exit ([0-9]+)$/.exec(lines.at(-1)?.trim() ?? '');
  if (!head?.[1] || !head[2] || !tail?.[1] || lines.length < 2) return undefined;
  return {
    bytes: Number(head[1]),
    modifiedAt: new Date(Number(head[2]) * 1000).toISOString(),
    gzipExit: Number(tail[1]),
    complete: lines.slice(1, -1).some((l) => l.trim() === '-- PostgreSQL database dump complete'),
  };
}

// ---------------------------------------------------------------------------------------------
// Remote command templates (every value single-quoted by the SSH adapter; none from people)

/** An absolute directory without traversal (from the inventory). */
export const remoteDir = z
  .string()
  .max(1024)
  .regex(/^\/[A-Za-z0-9._/-]*$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
/** An absolute path to a backup file (from the inventory's directory and a name the bot made or listed). */
export const remoteBackupFile = remoteDir.refine(
  (p) => BACKUP_NAME.test(p.slice(p.lastIndexOf('/') + 1)),
  'must name a backup file (<name>_YYYYmmdd_HHMMSS.sql.gz)',
);
/** A plain database name (the catalog's rule): never read as an option or a connection string. */
export const databaseName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain database name');
export const pgPort = z.number().int().min(1).max(65_535);

/** `df -Pk DIR` once the directory is known to exist and be writable. */
export const backupDirSpace = defineRemoteCommand({
  name: 'backup-dir-space',
  script: [
    'test -d {{dir}} || { echo "no such directory" >&2; exit 3; }',
    'test -w {{dir}} || { echo "directory is not writable" >&2; exit 3; }',
    'df -Pk {{dir}}',
  ].join('\n'),
  args: { dir: remoteDir },
  timeoutSec: 10,
  maxOutputBytes: 64 * 1024,
});

/** The backups in DIR with mtime, size, name (see `parseBackupListing`). */
export const backupList = defineRemoteCommand({
  name: 'backup-list',
  script: [
    'test -d {{dir}} || { echo "no such directory" >&2; exit 3; }',
    "find {{dir}} -maxdepth 1 -type f -name '*.sql.gz' -printf '%T@ %s %f\\n'",
  ].join('\n'),
  args: { dir: remoteDir },
  timeoutSec: 15,
});

/** pg_dump | gzip into FILE.partial (see the file comment); prints the compressed size. */
export const backupDump = defineRemoteCommand({
  name: 'backup-dump',
  script: [
    'cd / || exit 1',
    'umask 077',
    'part={{file}}.partial',
    'set -C',
    ': > "$part" || { echo "cannot create $part: a backup of that name is being written" >&2; exit 3; }',
    'set +C',
    'rc=$( { { sudo -u postgres pg_dump --no-password -p {{port}} {{database}}; echo $? >&3; } | gzip -c > "$part"; } 3>&1 ) ||',
    '  { rm -f "$part"; echo "gzip failed writing $part" >&2; exit 4; }',
    'if [ "$rc" != 0 ]; then rm -f "$part"; echo "pg_dump exited $rc: nothing was kept" >&2; exit 5; fi',
    'wc -c < "$part"',
  ].join('\n'),
  args: { file: remoteBackupFile, port: pgPort, database: databaseName },
  timeoutSec: 2 * 3600,
  maxOutputBytes: 256 * 1024,
});

/** gzip -t FILE.partial, then publish it as FILE (never over an existing one); prints the size. */
export const backupSeal = defineRemoteCommand({
  name: 'backup-seal',
  script: [
    'cd / || exit 1',
    'part={{file}}.partial',
    'if ! gzip -t "$part"; then rm -f "$part"; echo "gzip -t failed: the compressed dump is corrupt and was removed" >&2; exit 4; fi',
    'ln "$part" {{file}} || { echo "cannot publish the backup: a file of that name exists" >&2; exit 3; }',
    'rm -f "$part"',
    'stat -c %s {{file}}',
  ].join('\n'),
  args: { file: remoteBackupFile },
  timeoutSec: 3600,
  maxOutputBytes: 64 * 1024,
});

/**
 * Size and mtime, then one full read (`gzip -dc`, which checks every block and the CRC) whose
 * last lines must hold pg_dump's trailer, then gzip's exit status (see `parseInspection`).
 */
export const backupInspect = defineRemoteCommand({
  name: 'backup-inspect',
  script: [
    'cd / || exit 1',
    'test -f {{file}} || { echo "no such file" >&2; exit 3; }',
    "stat -c 'size %s mtime %Y' {{file}}",
    'exec 4>&1',
    'rc=$( { { gzip -dc {{file}}; echo $? >&3; } | tail -n 20 >&4; } 3>&1 )',
    // A cut stream need not end in a newline: start the status on a line of its own.
    'printf \'\\ngzip-exit %s\\n\' "$rc"',
  ].join('\n'),
  args: { file: remoteBackupFile },
  timeoutSec: 3600,
  maxOutputBytes: 256 * 1024,
});

// ---------------------------------------------------------------------------------------------
// Shared with verify-backup

/** The inventory's database primary, or the refusal (maintenance and backups run there). */
export function primaryDbHost(inv: Inventory, command: CommandName): Host {
  const [host] = hostsWithRole(inv, 'db-primary');
  if (!host) throw new PlanRefusedError(command, 'the inventory has no database primary');
  return host;
}

/** The plan's host, if it is still the inventory's database primary; else why not. */
export function plannedPrimary(ctx: CommandContext, name: string): Host | string {
  const host = ctx.inventory.hosts.get(name);
  if (!host) return `${name} is not in the inventory`;
  if (!host.roles.includes('db-primary')) return `${name} is no longer the inventory's database primary`;
  return host;
}

/** The backups in the inventory's backup directory on `host`, newest first. */
export async function listBackups(ctx: CommandContext, host: Host): Promise<BackupFile[]> {
  const r = await ctx.ssh.run(host, backupList, { dir: ctx.inventory.database.backupDir });
  return parseBackupListing(r.stdout);
}

export async function inspectBackup(
  ctx: CommandContext,
  host: Host,
  path: string,
): Promise<BackupInspection> {
  const r = await ctx.ssh.run(host, backupInspect, { file: path });
  const parsed = parseInspection(r.stdout);
  if (!parsed) throw new TypeError(`unexpected backup-inspect output: ${oneLine(r.stdout, 120)}`);
  return parsed;
}

/** Why a backup is not a good one (empty when it is). */
export function backupProblems(
  file: BackupFile | undefined,
  inspection: BackupInspection | undefined,
  minBytes: number,
): string[] {
  const problems: string[] = [];
  if (!file) return ['the file is not in the backup directory'];
  if (file.bytes < minBytes)
    problems.push(
      `${file.name} is ${formatBytes(file.bytes)}, below the plausible minimum ${formatBytes(minBytes)}`,
    );
  if (inspection) {
    if (inspection.gzipExit !== 0)
      problems.push(`gzip -dc exited ${inspection.gzipExit}: the file is corrupt or truncated`);
    else if (!inspection.complete)
      problems.push('the dump does not end with pg_dump\'s "dump complete" trailer: it is incomplete');
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The module

export type BackupFacts = {
  readonly host: string;
  readonly database: string;
  readonly port: number;
  readonly backupDir: string;
  /** `qnwis_prod_YYYYmmdd_HHMMSS.sql.gz`; the run fills in its start time (UTC). */
  readonly filePattern: string;
  /** pg_database_size at planning time (null when it could not be read). */
  readonly databaseBytes: number | null;
  /** Below this a finished backup is not plausible. */
  readonly minBytes: number;
  /** The newest backup before this one, if any. */
  readonly previous: BackupFile | null;
  readonly backupCount: number;
};

export type BackupPlan = CommandPlan<BackupFacts>;

export interface BackupOptions {
  /** Smallest plausible backup, bytes (default 16 KiB: the schema alone of a real database is more). */
  readonly minBytes?: number;
}

export const DEFAULT_MIN_BACKUP_BYTES = 16 * 1024;

/** Free space needed: the database's size (see the file comment), at least 64 MiB when unknown. */
export function requiredFreeBytes(databaseBytes: number | null): number {
  return databaseBytes ?? 64 * 1024 * 1024;
}

export function createBackupCommand(opts: BackupOptions = {}): CommandModule<BackupArgs, BackupFacts> {
  const minBytes = opts.minBytes ?? DEFAULT_MIN_BACKUP_BYTES;
  if (!Number.isSafeInteger(minBytes) || minBytes < 1)
    throw new RangeError('minBytes must be a positive integer');

  async function freeSpace(
    ctx: CommandContext,
    host: Host,
    f: BackupFacts,
  ): Promise<string | { free: number; mount: string }> {
    const r = await ctx.ssh.run(host, backupDirSpace, { dir: f.backupDir });
    const df = parseDfAvailable(r.stdout);
    if (!df) return `unexpected df output: ${oneLine(r.stdout, 120)}`;
    const need = requiredFreeBytes(f.databaseBytes);
    if (df.availableBytes < need)
      return `${f.backupDir} on ${host.name} has ${formatBytes(df.availableBytes)} free, less than the ${formatBytes(need)} the dump may need`;
    return { free: df.availableBytes, mount: df.mount };
  }

  return {
    name: 'backup',

    async plan(ctx) {
      const host = primaryDbHost(ctx.inventory, 'backup');
      const { name: database, port, backupDir } = ctx.inventory.database;
      let databaseBytes: number | null = null;
      try {
        databaseBytes = (await ctx.db.databaseInfo(host, database)).bytes;
      } catch {
        // The size only sizes the free-space check; pg_dump itself will say if the database is down.
      }
      let existing: BackupFile[];
      try {
        existing = await listBackups(ctx, host);
      } catch (err) {
        throw new PlanRefusedError(
          'backup',
          `cannot read the backup directory ${backupDir} on ${host.name}: ${errorText(err)}`,
        );
      }
      const previous = existing[0] ?? null;
      const filePattern = backupFilePattern(database);
      const target = backupPath(backupDir, filePattern);
      const sizeText = databaseBytes === null ? 'size unknown' : formatBytes(databaseBytes);
      return {
        command: 'backup',
        summary: `backup ${database} on ${host.name}`,
        steps: [
          {
            id: 'check-space',
            host: host.name,
            kind: 'capture',
            description: `${backupDir} on ${host.name} exists, is writable and has at least ${formatBytes(requiredFreeBytes(databaseBytes))} free (df -Pk)`,
            timeoutSec: backupDirSpace.timeoutSec,
          },
          {
            id: 'dump',
            host: host.name,
            kind: 'remote-command',
            description:
              `sudo -u postgres pg_dump -p ${port} ${database} | gzip > ${target}.partial on ${host.name} ` +
              `(database ${sizeText}; peer authentication, no password)`,
            timeoutSec: backupDump.timeoutSec,
          },
          {
            id: 'seal',
            host: host.name,
            kind: 'remote-command',
            description: `gzip -t the dump, then publish it as ${target} and report its size`,
            timeoutSec: backupSeal.timeoutSec,
          },
        ],
        blastRadius:
          `reads all of ${database} on ${host.name} (${sizeText}) in one snapshot: extra I/O and CPU there, ` +
          `no locks that block the app; writes one new file to ${backupDir}`,
        facts: {
          host: host.name,
          database,
          port,
          backupDir,
          filePattern,
          databaseBytes,
          minBytes,
          previous,
          backupCount: existing.length,
        },
      };
    },

    async precheck(ctx, _args, plan): Promise<PrecheckResult> {
      const f = plan.facts;
      const host = plannedPrimary(ctx, f.host);
      if (typeof host === 'string') return { ok: false, reason: host };
      try {
        const space = await freeSpace(ctx, host, f);
        if (typeof space === 'string') return { ok: false, reason: space };
        return { ok: true, detail: `${f.backupDir} on ${host.name}: ${formatBytes(space.free)} free` };
      } catch (err) {
        return { ok: false, reason: `cannot check ${f.backupDir} on ${host.name}: ${errorText(err)}` };
      }
    },

    async run(ctx, _args, plan, report, signal) {
      const f = plan.facts;
      const name = backupFileName(f.database, ctx.now());
      const path = backupPath(f.backupDir, name);
      let bytes: number | null = null;
      let dumpMs: number | null = null;
      const host = (): Host => {
        const h = plannedPrimary(ctx, f.host);
        if (typeof h === 'string') throw new PlanRefusedError('backup', h);
        return h;
      };
      return runSteps({
        plan,
        report,
        signal,
        observations: () => ({ file: name, path, bytes, dumpMs }),
        handlers: {
          'check-space': async () => {
            const space = await freeSpace(ctx, host(), f);
            if (typeof space === 'string') return { status: 'failed', detail: space };
            return { status: 'done', detail: `${formatBytes(space.free)} free on ${space.mount}` };
          },
          dump: async () => {
            const started = ctx.now().getTime();
            const r = await ctx.ssh.run(host(), backupDump, {
              file: path,
              port: f.port,
              database: f.database,
            });
            dumpMs = ctx.now().getTime() - started;
            const written = Number(r.stdout.trim());
            return {
              status: 'done',
              detail: `pg_dump | gzip wrote ${Number.isFinite(written) ? formatBytes(written) : '?'} in ${formatDuration(dumpMs)}`,
            };
          },
          seal: async () => {
            const r = await ctx.ssh.run(host(), backupSeal, { file: path });
            const size = Number(r.stdout.trim());
            if (!Number.isSafeInteger(size))
              return { status: 'failed', detail: `unexpected size output: ${oneLine(r.stdout, 80)}` };
            bytes = size;
            if (size < f.minBytes)
              return {
                status: 'failed',
                detail: `${path} is only ${formatBytes(size)} (below ${formatBytes(f.minBytes)}): not a plausible backup`,
              };
            return { status: 'done', detail: `gzip -t ok; ${path} ${formatBytes(size)}` };
          },
        },
      });
    },

    async verify(ctx, _args, plan, outcome): Promise<VerifyResult> {
      const f = plan.facts;
      const name = typeof outcome.observations.file === 'string' ? outcome.observations.file : undefined;
      const before = f.previous
        ? `newest backup was ${f.previous.name} (${formatBytes(f.previous.bytes)}, ${f.previous.modifiedAt}); ${plural(f.backupCount, 'backup')}`
        : `no backup in ${f.backupDir}`;
      const host = plannedPrimary(ctx, f.host);
      if (typeof host === 'string' || !name) {
        const why = typeof host === 'string' ? host : 'the run did not get as far as naming the file';
        return { ok: false, before, after: why, detail: why, evidence: [] };
      }
      let problems: string[] = [];
      let after = '';
      const result: DiagnosticResult = await diagnose('backup-files', host.name, async () => {
        const files = await listBackups(ctx, host);
        const mine = files.find((x) => x.name === name);
        const inspection = mine ? await inspectBackup(ctx, host, backupPath(f.backupDir, name)) : undefined;
        problems = backupProblems(mine, inspection, f.minBytes);
        if (mine && files[0]?.name !== name)
          problems.push(`${name} is not the newest backup (${files[0]?.name} is)`);
        after = mine
          ? `${name} ${formatBytes(mine.bytes)}, gzip ${inspection?.gzipExit === 0 ? 'ok' : 'FAILED'}, ` +
            `${inspection?.complete ? 'dump complete' : 'no dump trailer'}; newest of ${plural(files.length, 'backup')}`
          : `${name} is not in ${f.backupDir}`;
        return {
          status: problems.length === 0 ? 'ok' : 'error',
          summary: oneLine(`${host.name}: ${after}`, 500),
          data: { newest: files.slice(0, 5), inspection: inspection ?? null, problems },
        };
      });
      if (!after)
        return { ok: false, before, after: result.summary, detail: result.summary, evidence: [result] };
      return {
        ok: problems.length === 0,
        before,
        after,
        detail:
          problems.length === 0
            ? `${backupPath(f.backupDir, name)} on ${host.name} is a complete, readable dump and the newest backup`
            : oneLine(problems.join('; '), 600),
        evidence: [result],
      };
    },
  };
}

/** `backup` with the default plausibility minimum (16 KiB). */
export const backup = createBackupCommand();
