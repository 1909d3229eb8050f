-- Up Migration

-- Every slash-command invocation, allowed or not: who, what, where, when, and how it ended.
-- One row per invocation, written when its outcome is known. Append-only (trigger below).
CREATE TABLE command_audit (
  id bigserial PRIMARY KEY,
  -- Reference id shown to the person when something fails ("ref Q7K2M9XD"), unique per invocation.
  ref text NOT NULL UNIQUE,
  -- When the command arrived.
  at timestamptz NOT NULL,
  slack_user_id text NOT NULL,
  slack_user_name text,
  slack_team_id text,
  slack_channel_id text NOT NULL,
  slack_channel_name text,
  -- The slash command ("/qnwis") and the verb as parsed (null when the text named none).
  command text NOT NULL,
  verb text,
  -- Arguments as parsed (host, log, grep, lines, view, pattern, incident); {} when parsing failed.
  args jsonb NOT NULL DEFAULT '{}',
  -- The text as typed, capped (the application keeps at most 1000 characters, NUL replaced).
  raw_text text NOT NULL CHECK (length(raw_text) <= 1000),
  -- The role the person had at the time (viewer, L1…L4), null for none.
  role text,
  private boolean NOT NULL DEFAULT false,
  -- ok: answered; refused: not allowed; invalid: usage error; error: failed (see ref in the logs).
  result text NOT NULL CHECK (result IN ('ok', 'refused', 'invalid', 'error')),
  -- Why refused or invalid, or the error class; never a secret.
  detail text CHECK (length(detail) <= 1000),
  duration_ms integer NOT NULL CHECK (duration_ms >= 0)
);
CREATE INDEX command_audit_at ON command_audit (at);
CREATE INDEX command_audit_user_at ON command_audit (slack_user_id, at);

CREATE FUNCTION command_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'command_audit is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER command_audit_no_update BEFORE UPDATE OR DELETE ON command_audit
  FOR EACH ROW EXECUTE FUNCTION command_audit_append_only();
CREATE TRIGGER command_audit_no_truncate BEFORE TRUNCATE ON command_audit
  FOR EACH STATEMENT EXECUTE FUNCTION command_audit_append_only();

-- Down Migration
DROP TABLE command_audit;
DROP FUNCTION command_audit_append_only;
