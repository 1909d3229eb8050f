/**
 * The daily backup check (runbook "On-Call Responsibilities": confirm daily backups completed;
 * "Backup Schedule": database daily at 02:00 UTC): is the newest backup on the database primary
 * recent and of a plausible size? Pure: the listing in, a verdict out.
 *
 * - Recent: younger than 26 h (a daily backup plus two hours for a slow dump or a late clock).
 * - Plausible: not below the smallest size a real dump has (the `backup` command's own minimum,
 *   16 KiB: the schema alone is more), and not below half of the median of the previous backups
 *   (up to seven: a week). A database does not halve overnight; a dump cut short does.
 * - The newest is by modification time, as `verify-backup` picks it (parseBackupListing's order).
 */
import { DEFAULT_MIN_BACKUP_BYTES } from '../ops/commands/backup.js';
import { formatBytes, formatDuration, plural } from '../ops/diagnostics/common.js';

const HOUR = 3_600_000;

/** A backup as listed on the host (same shape as src/ops/commands/backup.ts `BackupFile`). */
export interface ListedBackup {
  readonly name: string;
  readonly bytes: number;
  /** ISO-8601 UTC. */
  readonly modifiedAt: string;
}

export interface BackupCheckOptions {
  /** Default 26 h. */
  readonly maxAgeMs?: number;
  /** Default 16 KiB (DEFAULT_MIN_BACKUP_BYTES). */
  readonly minBytes?: number;
  /** How many previous backups the size is compared with (default 7). */
  readonly previousCount?: number;
  /** The newest must be at least this share of the previous median (default 0.5). */
  readonly minShareOfMedian?: number;
}

export const BACKUP_CHECK_DEFAULTS = {
  maxAgeMs: 26 * HOUR,
  minBytes: DEFAULT_MIN_BACKUP_BYTES,
  previousCount: 7,
  minShareOfMedian: 0.5,
} as const;

export interface BackupVerdict {
  readonly ok: boolean;
  readonly host: string;
  readonly dir: string;
  readonly newest: ListedBackup | null;
  /** Age of the newest backup at the check, ms (never negative). */
  readonly ageMs: number | null;
  /** Median size of the previous backups compared with, and how many there were. */
  readonly previousMedianBytes: number | null;
  readonly previousCompared: number;
  readonly backupCount: number;
  /** What is wrong, one sentence each (empty when ok). */
  readonly findings: readonly string[];
  /** One line: the newest backup and its age and size, or what is wrong. */
  readonly summary: string;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? hi) + hi) / 2;
}

/** `files` newest first (as parseBackupListing returns them). */
export function judgeBackups(
  where: { readonly host: string; readonly dir: string },
  files: readonly ListedBackup[],
  now: Date,
  options: BackupCheckOptions = {},
): BackupVerdict {
  const o = { ...BACKUP_CHECK_DEFAULTS, ...options };
  const [newest, ...older] = files;
  const base = { host: where.host, dir: where.dir, backupCount: files.length };
  if (!newest) {
    const finding = `no backup in ${where.dir} on ${where.host}`;
    return {
      ...base,
      ok: false,
      newest: null,
      ageMs: null,
      previousMedianBytes: null,
      previousCompared: 0,
      findings: [finding],
      summary: finding,
    };
  }
  const ageMs = Math.max(0, now.getTime() - Date.parse(newest.modifiedAt));
  const previous = older.slice(0, o.previousCount).map((f) => f.bytes);
  const previousMedianBytes = median(previous);
  const findings: string[] = [];
  if (!(ageMs < o.maxAgeMs))
    findings.push(
      `the newest backup, ${newest.name}, is ${formatDuration(ageMs)} old (older than ${formatDuration(o.maxAgeMs)}): last night's backup did not run or did not finish`,
    );
  if (newest.bytes === 0) findings.push(`${newest.name} is empty (0 bytes)`);
  else if (newest.bytes < o.minBytes)
    findings.push(
      `${newest.name} is ${formatBytes(newest.bytes)}, below the ${formatBytes(o.minBytes)} any real dump has`,
    );
  else if (previousMedianBytes !== null && newest.bytes < previousMedianBytes * o.minShareOfMedian)
    findings.push(
      `${newest.name} is ${formatBytes(newest.bytes)}, less than ${Math.round(o.minShareOfMedian * 100)} % of the ` +
        `median of the ${plural(previous.length, 'previous backup')} (${formatBytes(previousMedianBytes)}): the dump may be cut short`,
    );
  const compared =
    previousMedianBytes === null
      ? 'no earlier backup to compare with'
      : `median of the ${plural(previous.length, 'previous backup')} ${formatBytes(previousMedianBytes)}`;
  const facts = `${newest.name}, ${formatDuration(ageMs)} old, ${formatBytes(newest.bytes)} (${compared})`;
  return {
    ...base,
    ok: findings.length === 0,
    newest,
    ageMs,
    previousMedianBytes,
    previousCompared: previous.length,
    findings,
    summary: findings.length === 0 ? facts : findings.join('; '),
  };
}

/** The verdict when the backup directory could not be read at all (host down, no directory, …). */
export function unreadableVerdict(
  where: { readonly host: string; readonly dir: string },
  detail: string,
): BackupVerdict {
  const finding = `cannot list ${where.dir} on ${where.host}: ${detail}`;
  return {
    host: where.host,
    dir: where.dir,
    ok: false,
    newest: null,
    ageMs: null,
    previousMedianBytes: null,
    previousCompared: 0,
    backupCount: 0,
    findings: [finding],
    summary: finding,
  };
}
