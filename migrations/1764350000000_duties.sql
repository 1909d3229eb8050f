-- Up Migration

-- The on-call's scheduled duties (issue 7): each run of a duty (backup check, SLO digest, error-log
-- review, maintenance announcement) is one row keyed by the duty and its run: the BullMQ scheduler
-- slot, or the maintenance window. A replica takes a run by setting `claimed_at` (a claim older than
-- a few minutes belongs to a worker that died and may be taken again); `finished_at` makes the run
-- once for good, whatever the queue redelivers. `progress` remembers what was already posted, so a
-- retry after a half-done run does not post it twice.
CREATE TABLE duty_runs (
  duty text NOT NULL CHECK (length(duty) <= 64),
  run_key text NOT NULL CHECK (length(run_key) <= 200),
  claimed_at timestamptz,
  finished_at timestamptz,
  outcome text CHECK (length(outcome) <= 64),
  progress jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(progress) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (duty, run_key)
);
CREATE INDEX duty_runs_finished ON duty_runs (duty, finished_at);

-- What each error-log review saw, per host (patterns: numbers, ids, timestamps, hex stripped), so
-- the next review flags the patterns the previous one did not have.
CREATE TABLE error_log_patterns (
  run_key text NOT NULL,
  host text NOT NULL,
  pattern text NOT NULL CHECK (length(pattern) <= 400),
  count integer NOT NULL CHECK (count > 0),
  reviewed_at timestamptz NOT NULL,
  PRIMARY KEY (run_key, host, pattern)
);
CREATE INDEX error_log_patterns_reviewed ON error_log_patterns (reviewed_at);

-- The dead-man switch: one row per heartbeat alert (the Watchdog). `status` moves ok → missing →
-- ok with conditional updates, so of several replicas exactly one opens (and one closes) an
-- outage; the page and the Slack messages of that outage are each recorded once.
CREATE TABLE watchdog_state (
  name text PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('ok', 'missing')),
  -- The current or last outage: when it was detected, the heartbeat last seen before it, and the
  -- PagerDuty dedup_key that pages (and later resolves) it.
  outage_started_at timestamptz,
  last_seen_before timestamptz,
  dedup_key text CHECK (length(dedup_key) <= 255),
  paged_at timestamptz,
  page_resolved_at timestamptz,
  missing_posted_at timestamptz,
  back_at timestamptz,
  back_posted_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE watchdog_state;
DROP TABLE error_log_patterns;
DROP TABLE duty_runs;
