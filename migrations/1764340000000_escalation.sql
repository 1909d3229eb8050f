-- Up Migration

-- The runbook's clock (issue 7). Facts the escalation timers read: when the incident was mitigated
-- (a command for it succeeded, or someone said so), a bounded snooze of reminders, and the
-- post-mortem's link. Who acted is in incident_events.
ALTER TABLE incidents
  ADD COLUMN mitigated_at timestamptz,
  ADD COLUMN snoozed_until timestamptz,
  ADD COLUMN postmortem_url text CHECK (length(postmortem_url) <= 2000),
  ADD COLUMN postmortem_linked_at timestamptz,
  ADD COLUMN resolve_note text CHECK (length(resolve_note) <= 3000);

-- Each escalation timer acts once, whatever the queue does (a re-added job after its completed
-- record was trimmed, a second replica, a stalled job redelivered): the row is taken in the same
-- transaction as the timeline event that tells the thread.
CREATE TABLE escalation_timers_fired (
  timer_id text PRIMARY KEY CHECK (length(timer_id) <= 200),
  incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  kind text NOT NULL,
  paged boolean NOT NULL,
  pagerduty_level integer,
  fired_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalation_timers_fired_incident ON escalation_timers_fired (incident_id);

-- Down Migration
DROP TABLE escalation_timers_fired;
ALTER TABLE incidents
  DROP COLUMN mitigated_at,
  DROP COLUMN snoozed_until,
  DROP COLUMN postmortem_url,
  DROP COLUMN postmortem_linked_at,
  DROP COLUMN resolve_note;
