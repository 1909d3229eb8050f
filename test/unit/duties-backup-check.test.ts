import { describe, expect, it } from 'vitest';
import { judgeBackups, type ListedBackup, median, unreadableVerdict } from '../../src/duties/backup-check.js';
import { parseBackupListing } from '../../src/ops/commands/backup.js';

const NOW = new Date('2026-11-28T06:30:00.000Z');
const WHERE = { host: 'db-primary', dir: '/backups' };
const HOUR = 3_600_000;
const MIB = 1024 * 1024;

/** A backup `hoursAgo` old, newest first when listed in order. */
function backup(hoursAgo: number, bytes: number, name?: string): ListedBackup {
  const at = new Date(NOW.getTime() - hoursAgo * HOUR);
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  return { name: name ?? `qnwis_prod_${stamp}.sql.gz`, bytes, modifiedAt: at.toISOString() };
}

/** A week of nightly backups (02:00 UTC), the newest `newestHours` old and `newestBytes` big. */
function week(newestHours: number, newestBytes: number, others = 12 * MIB): ListedBackup[] {
  return [
    backup(newestHours, newestBytes),
    ...[1, 2, 3, 4, 5, 6, 7].map((d) => backup(newestHours + d * 24, others)),
  ];
}

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([1, 9, 3, 5])).toBe(4);
  });
});

describe('judgeBackups', () => {
  it('passes a fresh backup of the usual size, and says what it compared with', () => {
    const v = judgeBackups(WHERE, week(4.5, 12.5 * MIB), NOW);
    expect(v.ok).toBe(true);
    expect(v.findings).toEqual([]);
    expect(v.ageMs).toBe(4.5 * HOUR);
    expect(v.previousMedianBytes).toBe(12 * MIB);
    expect(v.previousCompared).toBe(7);
    expect(v.summary).toBe(
      `${v.newest?.name}, 4 h 30 min old, 12.5 MiB (median of the 7 previous backups 12.0 MiB)`,
    );
  });

  it('fails a newest backup of 26 h or older: last night did not run', () => {
    expect(judgeBackups(WHERE, week(25.9, 12 * MIB), NOW).ok).toBe(true);
    for (const hours of [26, 30, 24 * 3]) {
      const v = judgeBackups(WHERE, week(hours, 12 * MIB), NOW);
      expect(v.ok).toBe(false);
      expect(v.findings).toHaveLength(1);
      expect(v.findings[0]).toMatch(
        /is \d+ (h|d)( \d+ min)? old \(older than 26 h\): last night's backup did not run/,
      );
    }
  });

  it('fails a backup below half of the previous median, not one a little smaller', () => {
    expect(judgeBackups(WHERE, week(4, 6 * MIB), NOW).ok).toBe(true);
    const v = judgeBackups(WHERE, week(4, 5.9 * MIB), NOW);
    expect(v.ok).toBe(false);
    expect(v.findings[0]).toContain('less than 50 % of the median of the 7 previous backups (12.0 MiB)');
  });

  it('compares with at most the seven previous backups', () => {
    // Older, much bigger backups (before a cleanup) no longer count.
    const files = [...week(4, 3 * MIB, 4 * MIB), backup(24 * 9, 400 * MIB), backup(24 * 10, 400 * MIB)];
    const v = judgeBackups(WHERE, files, NOW);
    expect(v.previousMedianBytes).toBe(4 * MIB);
    expect(v.ok).toBe(true);
  });

  it('fails an empty backup and one below any real dump, with or without history', () => {
    const empty = judgeBackups(WHERE, week(2, 0), NOW);
    expect(empty.findings).toEqual([expect.stringMatching(/is empty \(0 bytes\)$/)]);
    const tiny = judgeBackups(WHERE, [backup(2, 20)], NOW);
    expect(tiny.ok).toBe(false);
    expect(tiny.findings[0]).toContain('is 20 B, below the 16.0 KiB any real dump has');
  });

  it('reports every finding at once: old and truncated', () => {
    const v = judgeBackups(WHERE, week(50, 1 * MIB), NOW);
    expect(v.findings).toHaveLength(2);
    expect(v.summary).toBe(v.findings.join('; '));
  });

  it('passes a first backup with nothing to compare with', () => {
    const v = judgeBackups(WHERE, [backup(1, 2 * MIB)], NOW);
    expect(v.ok).toBe(true);
    expect(v.previousMedianBytes).toBeNull();
    expect(v.summary).toContain('no earlier backup to compare with');
  });

  it('fails when there is no backup at all', () => {
    const v = judgeBackups(WHERE, [], NOW);
    expect(v).toMatchObject({ ok: false, newest: null, findings: ['no backup in /backups on db-primary'] });
  });

  it('never reports a negative age (a clock a little ahead on the host)', () => {
    const v = judgeBackups(WHERE, [backup(-0.1, 2 * MIB)], NOW);
    expect(v.ageMs).toBe(0);
    expect(v.ok).toBe(true);
  });

  it('judges the newest by modification time, as the real listing orders them', () => {
    // find -printf '%T@ %s %f': the older name was touched last; a .partial is ignored.
    const t = (h: number) => ((NOW.getTime() - h * HOUR) / 1000).toFixed(3);
    const listing = [
      `${t(30)} 12582912 qnwis_prod_20261128_020000.sql.gz`,
      `${t(2)} 12582912 qnwis_prod_20261127_020000.sql.gz`,
      `${t(1)} 4096 qnwis_prod_20261128_050000.sql.gz.partial`,
    ].join('\n');
    const v = judgeBackups(WHERE, parseBackupListing(listing), NOW);
    expect(v.newest?.name).toBe('qnwis_prod_20261127_020000.sql.gz');
    expect(v.ok).toBe(true);
    expect(v.backupCount).toBe(2);
  });

  it('options override the runbook defaults', () => {
    expect(judgeBackups(WHERE, week(5, 12 * MIB), NOW, { maxAgeMs: 4 * HOUR }).ok).toBe(false);
    expect(judgeBackups(WHERE, week(4, 10 * MIB), NOW, { minShareOfMedian: 0.9 }).ok).toBe(false);
  });
});

describe('unreadableVerdict', () => {
  it('is a failed check that names the directory, the host and why', () => {
    const v = unreadableVerdict(WHERE, 'not reachable over SSH (connect ECONNREFUSED)');
    expect(v).toMatchObject({ ok: false, newest: null });
    expect(v.summary).toBe(
      'cannot list /backups on db-primary: not reachable over SSH (connect ECONNREFUSED)',
    );
  });
});
