/**
 * The scheduled duties' state in the bot's PostgreSQL (migrations/1764350000000_duties.sql): runs
 * taken once across replicas, the error-log review's patterns, and the dead-man switch's outages.
 *
 * Once-only is decided here, with conditional writes: the BullMQ scheduler already makes one job
 * per slot, but a stalled job is delivered again and a second replica may run the same slot after a
 * restart; only the replica whose claim or transition returns a row acts.
 */
import type { Db } from './db.js';

export interface DutyRun {
  readonly duty: string;
  readonly runKey: string;
  readonly finishedAt: Date | null;
  readonly outcome: string | null;
  /** What was already done (e.g. `{ message: "1764…" }` once the message is in Slack). */
  readonly progress: Record<string, unknown>;
}

function toRun(r: Record<string, unknown>): DutyRun {
  return {
    duty: r.duty as string,
    runKey: r.run_key as string,
    finishedAt: (r.finished_at as Date | null) ?? null,
    outcome: (r.outcome as string | null) ?? null,
    progress: (r.progress as Record<string, unknown> | null) ?? {},
  };
}

export type WatchdogStatus = 'ok' | 'missing';

export interface WatchdogState {
  readonly name: string;
  readonly status: WatchdogStatus;
  readonly outageStartedAt: Date | null;
  readonly lastSeenBefore: Date | null;
  readonly dedupKey: string | null;
  readonly pagedAt: Date | null;
  readonly pageResolvedAt: Date | null;
  readonly missingPostedAt: Date | null;
  readonly backAt: Date | null;
  readonly backPostedAt: Date | null;
}

function toWatchdog(r: Record<string, unknown>): WatchdogState {
  const d = (v: unknown) => (v as Date | null) ?? null;
  return {
    name: r.name as string,
    status: r.status as WatchdogStatus,
    outageStartedAt: d(r.outage_started_at),
    lastSeenBefore: d(r.last_seen_before),
    dedupKey: (r.dedup_key as string | null) ?? null,
    pagedAt: d(r.paged_at),
    pageResolvedAt: d(r.page_resolved_at),
    missingPostedAt: d(r.missing_posted_at),
    backAt: d(r.back_at),
    backPostedAt: d(r.back_posted_at),
  };
}

/** The Slack messages of an outage, each claimed before it is posted (and released if that fails). */
export type WatchdogMessage = 'missing' | 'back';

const MESSAGE_COLUMN: Readonly<Record<WatchdogMessage, string>> = {
  missing: 'missing_posted_at',
  back: 'back_posted_at',
};

export class DutyStore {
  readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  // ---- runs ----------------------------------------------------------------------------------

  /**
   * Takes the run for this worker: a new run, one released after a failure, or one whose claim is
   * older than `staleMs` (its worker died). Null when the run is finished or another worker holds it.
   */
  async claimRun(duty: string, runKey: string, staleMs = 5 * 60_000): Promise<DutyRun | null> {
    const res = await this.db.query(
      `INSERT INTO duty_runs (duty, run_key, claimed_at) VALUES ($1, $2, now())
       ON CONFLICT (duty, run_key) DO UPDATE SET claimed_at = now()
         WHERE duty_runs.finished_at IS NULL
           AND (duty_runs.claimed_at IS NULL OR duty_runs.claimed_at < now() - make_interval(secs => $3))
       RETURNING *`,
      [duty, runKey, staleMs / 1000],
    );
    return res.rows[0] ? toRun(res.rows[0]) : null;
  }

  async getRun(duty: string, runKey: string): Promise<DutyRun | null> {
    const res = await this.db.query('SELECT * FROM duty_runs WHERE duty = $1 AND run_key = $2', [
      duty,
      runKey,
    ]);
    return res.rows[0] ? toRun(res.rows[0]) : null;
  }

  /** Merges `patch` into the run's progress (what is done so far). */
  async saveProgress(duty: string, runKey: string, patch: Record<string, unknown>): Promise<void> {
    await this.db.query(
      'UPDATE duty_runs SET progress = progress || $3::jsonb WHERE duty = $1 AND run_key = $2',
      [duty, runKey, JSON.stringify(patch)],
    );
  }

  async finishRun(duty: string, runKey: string, outcome: string): Promise<void> {
    await this.db.query(
      'UPDATE duty_runs SET finished_at = now(), outcome = $3 WHERE duty = $1 AND run_key = $2',
      [duty, runKey, outcome.slice(0, 64)],
    );
  }

  /** Gives the run back after a failure, so the retry (this or another worker) may take it at once. */
  async releaseRun(duty: string, runKey: string): Promise<void> {
    await this.db.query(
      'UPDATE duty_runs SET claimed_at = NULL WHERE duty = $1 AND run_key = $2 AND finished_at IS NULL',
      [duty, runKey],
    );
  }

  /** The newest finished run of `duty` other than `runKey`, if any. */
  async previousRun(duty: string, runKey: string): Promise<DutyRun | null> {
    const res = await this.db.query(
      `SELECT * FROM duty_runs WHERE duty = $1 AND run_key <> $2 AND finished_at IS NOT NULL
       ORDER BY finished_at DESC LIMIT 1`,
      [duty, runKey],
    );
    return res.rows[0] ? toRun(res.rows[0]) : null;
  }

  // ---- error-log review ------------------------------------------------------------------------

  /** The patterns a review stored, by host. */
  async reviewPatterns(runKey: string): Promise<Map<string, Set<string>>> {
    const res = await this.db.query('SELECT host, pattern FROM error_log_patterns WHERE run_key = $1', [
      runKey,
    ]);
    const out = new Map<string, Set<string>>();
    for (const r of res.rows) {
      const host = r.host as string;
      const set = out.get(host) ?? new Set<string>();
      set.add(r.pattern as string);
      out.set(host, set);
    }
    return out;
  }

  /** Replaces what review `runKey` saw (a retried review stores its own reading once). */
  async saveReviewPatterns(
    runKey: string,
    at: Date,
    patterns: readonly { host: string; pattern: string; count: number }[],
  ): Promise<void> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM error_log_patterns WHERE run_key = $1', [runKey]);
      if (patterns.length > 0) {
        await client.query(
          `INSERT INTO error_log_patterns (run_key, host, pattern, count, reviewed_at)
           SELECT $1, p.host, p.pattern, p.count, $2
           FROM jsonb_to_recordset($3::jsonb) AS p(host text, pattern text, count integer)
           ON CONFLICT (run_key, host, pattern) DO UPDATE SET count = EXCLUDED.count`,
          [runKey, at, JSON.stringify(patterns)],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Forgets runs and patterns older than `days` (the review compares with the previous one only). */
  async prune(days: number): Promise<void> {
    await this.db.query(
      'DELETE FROM error_log_patterns WHERE reviewed_at < now() - make_interval(days => $1)',
      [days],
    );
    await this.db.query('DELETE FROM duty_runs WHERE finished_at < now() - make_interval(days => $1)', [
      days,
    ]);
  }

  // ---- dead-man switch -----------------------------------------------------------------------

  async watchdog(name: string): Promise<WatchdogState | null> {
    const res = await this.db.query('SELECT * FROM watchdog_state WHERE name = $1', [name]);
    return res.rows[0] ? toWatchdog(res.rows[0]) : null;
  }

  /**
   * ok → missing: opens an outage with its PagerDuty key. Returns the new state for the one caller
   * that made the transition, null for everyone else (it was missing already).
   */
  async openOutage(
    name: string,
    at: Date,
    lastSeenBefore: Date | null,
    dedupKey: string,
  ): Promise<WatchdogState | null> {
    const res = await this.db.query(
      `INSERT INTO watchdog_state (name, status, outage_started_at, last_seen_before, dedup_key, updated_at)
       VALUES ($1, 'missing', $2, $3, $4, now())
       ON CONFLICT (name) DO UPDATE SET status = 'missing', outage_started_at = $2, last_seen_before = $3,
         dedup_key = $4, paged_at = NULL, page_resolved_at = NULL, missing_posted_at = NULL, back_at = NULL,
         back_posted_at = NULL, updated_at = now()
       WHERE watchdog_state.status = 'ok'
       RETURNING *`,
      [name, at, lastSeenBefore, dedupKey],
    );
    return res.rows[0] ? toWatchdog(res.rows[0]) : null;
  }

  /** missing → ok: the heartbeat is back. Null for everyone but the caller that made the transition. */
  async closeOutage(name: string, at: Date): Promise<WatchdogState | null> {
    const res = await this.db.query(
      `UPDATE watchdog_state SET status = 'ok', back_at = $2, updated_at = now()
       WHERE name = $1 AND status = 'missing' RETURNING *`,
      [name, at],
    );
    return res.rows[0] ? toWatchdog(res.rows[0]) : null;
  }

  /** Records that the outage's page (trigger) or its resolve reached PagerDuty. */
  async markPage(name: string, dedupKey: string, action: 'trigger' | 'resolve'): Promise<void> {
    const column = action === 'trigger' ? 'paged_at' : 'page_resolved_at';
    await this.db.query(
      `UPDATE watchdog_state SET ${column} = COALESCE(${column}, now()), updated_at = now()
       WHERE name = $1 AND dedup_key = $2`,
      [name, dedupKey],
    );
  }

  /** Takes the outage's message for posting; false when it was posted (or is being posted) already. */
  async claimMessage(name: string, dedupKey: string, message: WatchdogMessage): Promise<boolean> {
    const column = MESSAGE_COLUMN[message];
    const res = await this.db.query(
      `UPDATE watchdog_state SET ${column} = now(), updated_at = now()
       WHERE name = $1 AND dedup_key = $2 AND ${column} IS NULL RETURNING name`,
      [name, dedupKey],
    );
    return (res.rowCount ?? 0) > 0;
  }

  /** Gives the message back after Slack refused it, so the next check posts it. */
  async releaseMessage(name: string, dedupKey: string, message: WatchdogMessage): Promise<void> {
    const column = MESSAGE_COLUMN[message];
    await this.db.query(`UPDATE watchdog_state SET ${column} = NULL WHERE name = $1 AND dedup_key = $2`, [
      name,
      dedupKey,
    ]);
  }
}
