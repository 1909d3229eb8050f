-- Up Migration

-- One incident per Alertmanager group while it is open (a group that fires again after
-- resolution opens a new incident). `key` is the public id (Slack, PagerDuty dedup_key).
CREATE TABLE incidents (
  id bigserial PRIMARY KEY,
  key text NOT NULL UNIQUE,
  group_key text NOT NULL,
  alertname text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('SEV-1', 'SEV-2', 'SEV-3', 'SEV-4')),
  status text NOT NULL CHECK (status IN ('firing', 'acknowledged', 'resolved')),
  channel text NOT NULL,
  common_labels jsonb NOT NULL DEFAULT '{}',
  external_url text NOT NULL DEFAULT '',
  -- Slack: the one top-level message, or the storm digest that lists this incident instead.
  slack_channel_id text,
  slack_ts text,
  slack_permalink text,
  slack_rendered_hash text,
  digest_id bigint,
  -- Last timeline event announced in the Slack thread.
  thread_cursor bigint NOT NULL DEFAULT 0,
  -- PagerDuty (SEV-1/2 only).
  pd_dedup_key text,
  pd_status text CHECK (pd_status IN ('triggered', 'resolved')),
  pd_incident_id text,
  pd_html_url text,
  acknowledged_by text,
  acknowledged_at timestamptz,
  opened_at timestamptz NOT NULL,
  resolved_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (group_key) WHERE status <> 'resolved';
CREATE INDEX incidents_channel_created ON incidents (channel, created_at);
CREATE INDEX incidents_pd_incident ON incidents (pd_incident_id) WHERE pd_incident_id IS NOT NULL;

CREATE TABLE incident_alerts (
  incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  fingerprint text NOT NULL,
  status text NOT NULL CHECK (status IN ('firing', 'resolved')),
  labels jsonb NOT NULL,
  annotations jsonb NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz,
  generator_url text NOT NULL DEFAULT '',
  last_seen timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, fingerprint)
);

-- Every distinct (groupKey, fingerprint, startsAt, status) ever received: re-sends, HA duplicates
-- and retries only move last_seen and count deliveries.
CREATE TABLE alert_receipts (
  group_key text NOT NULL,
  fingerprint text NOT NULL,
  starts_at timestamptz NOT NULL,
  status text NOT NULL,
  alertname text NOT NULL,
  incident_id bigint REFERENCES incidents (id) ON DELETE SET NULL,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now(),
  deliveries integer NOT NULL DEFAULT 1,
  PRIMARY KEY (group_key, fingerprint, starts_at, status)
);

-- The append-only timeline of an incident.
CREATE TABLE incident_events (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  actor text,
  data jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE FUNCTION incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'incident_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER incident_events_no_update BEFORE UPDATE OR DELETE ON incident_events
  FOR EACH ROW EXECUTE FUNCTION incident_events_append_only();

-- Storm digests: one message per channel listing incidents instead of one message each.
CREATE TABLE slack_digests (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  slack_channel_id text,
  slack_ts text,
  slack_rendered_hash text,
  started_at timestamptz NOT NULL DEFAULT now(),
  last_added_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE incidents ADD CONSTRAINT incidents_digest FOREIGN KEY (digest_id) REFERENCES slack_digests (id);

-- PagerDuty webhook deliveries already handled (X-Webhook-Id): at-least-once in, once applied.
CREATE TABLE pagerduty_webhooks (
  webhook_id text PRIMARY KEY,
  event_id text,
  event_type text NOT NULL,
  pd_incident_id text,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- Heartbeats (the Watchdog alert): when the alerting pipeline last proved alive.
CREATE TABLE heartbeats (
  name text PRIMARY KEY,
  last_seen timestamptz NOT NULL,
  deliveries bigint NOT NULL DEFAULT 1
);

-- Down Migration
DROP TABLE heartbeats;
DROP TABLE pagerduty_webhooks;
ALTER TABLE incidents DROP CONSTRAINT incidents_digest;
DROP TABLE slack_digests;
DROP TABLE incident_events;
DROP FUNCTION incident_events_append_only;
DROP TABLE alert_receipts;
DROP TABLE incident_alerts;
DROP TABLE incidents;
