-- Up Migration

-- The tamper-evident audit trail (issue 6): one row per request, approval, rejection, expiry,
-- start, step, result, cancel, interruption, break-glass window, read-only command and refusal.
-- Each row's `hash` covers its own content and the previous row's hash (src/store/audit-trail.ts
-- documents the exact bytes), so changing or deleting a row breaks the chain at that row:
-- `npm run audit -- verify` names the first broken link.
CREATE TABLE audit_trail (
  id bigserial PRIMARY KEY,
  -- Stored to the millisecond (the hash covers it to the microsecond, so a changed µs shows).
  at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN (
    'request', 'approval', 'rejection', 'expiry', 'start', 'step', 'result', 'cancel',
    'interrupted', 'break-glass', 'read-only', 'refusal'
  )),
  -- Slack user id of the person; NULL when the bot itself acted (expiry, a step, a result).
  actor_id text CHECK (length(actor_id) <= 64),
  actor_name text CHECK (length(actor_name) <= 200),
  -- Their role at the time (viewer, L1…L4).
  actor_role text CHECK (length(actor_role) <= 32),
  -- The command request ("R-7K2M9XD4"), when the row is about one.
  request_id text CHECK (length(request_id) <= 64),
  incident_id bigint,
  -- One line a person reads ("approved restart app-02"); details go in data.
  summary text NOT NULL CHECK (length(summary) <= 500),
  data jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
  -- NULL only for the first row.
  prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
-- One successor per row: an append that read a stale chain tip fails instead of forking the chain.
CREATE UNIQUE INDEX audit_trail_one_successor ON audit_trail ((coalesce(prev_hash, 'genesis')));
CREATE INDEX audit_trail_at ON audit_trail (at);
CREATE INDEX audit_trail_actor_at ON audit_trail (actor_id, at);
CREATE INDEX audit_trail_request ON audit_trail (request_id);

-- The trigger binds the table's owner too (a REVOKE does not): only a superuser disabling it, or
-- replication mode, gets past, and verify shows what they changed.
CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_trail is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_trail_no_update BEFORE UPDATE OR DELETE ON audit_trail
  FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only();
CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
  FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_trail FROM PUBLIC;

-- Down Migration
DROP TABLE audit_trail;
DROP FUNCTION audit_trail_append_only;
