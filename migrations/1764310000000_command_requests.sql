-- Up Migration

-- Requests to run a runbook command (issue 6): what was asked, the plan approvers saw, where it is
-- discussed in Slack, and where it stands. State changes are conditional UPDATEs
-- (`WHERE state = …`), so two bot replicas or a double click move a request once.
CREATE TABLE command_requests (
  -- "R-7K2M9XD4": shown to people, used in button values and as the BullMQ job id.
  id text PRIMARY KEY,
  command text NOT NULL,
  -- The catalog's resolved arguments (defaults filled in): exactly what runs.
  args jsonb NOT NULL,
  -- "restart app-02".
  summary text NOT NULL,
  rule_key text NOT NULL,
  risk text NOT NULL,
  destructive boolean NOT NULL,
  -- Resource paths (["host","app-02"]): an open request on an overlapping path blocks a new one.
  targets jsonb NOT NULL,
  -- The module's plan (steps, blast radius, facts) and its hash; approvals are bound to the hash.
  plan jsonb NOT NULL,
  plan_hash text NOT NULL,
  requester_id text NOT NULL,
  requester_name text,
  requester_level text NOT NULL,
  incident_id bigint REFERENCES incidents (id),
  channel_id text NOT NULL,
  -- The thread the request lives in (the incident's, or the approval message's own).
  thread_ts text,
  -- The approval message and the progress message (null until posted).
  message_ts text,
  progress_ts text,
  requested_at timestamptz NOT NULL DEFAULT now(),
  -- Approvals are accepted until then; null when the command needs none.
  expires_at timestamptz,
  state text NOT NULL CHECK (state IN (
    'pending', 'approved', 'running', 'succeeded', 'failed', 'cancelled', 'rejected', 'expired',
    'interrupted', 'refused'
  )),
  -- Why it is in that state, one sentence (who rejected, the precheck's refusal, where it failed).
  state_detail text,
  -- True when a break-glass window decided the rule.
  break_glass boolean NOT NULL DEFAULT false,
  approved_at timestamptz,
  -- Claimed by a worker before its first step (destructive commands are never re-run after that).
  claimed_by text,
  started_at timestamptz,
  -- One entry per plan step: {stepId, status, detail, at}; written as each step ends.
  steps jsonb NOT NULL DEFAULT '[]',
  cancel_requested_by text,
  cancel_requested_at timestamptz,
  finished_at timestamptz,
  -- verify's before/after.
  verification jsonb
);
CREATE INDEX command_requests_open ON command_requests (state) WHERE state IN ('pending', 'approved', 'running');
CREATE INDEX command_requests_incident ON command_requests (incident_id);

CREATE TABLE command_approvals (
  request_id text NOT NULL REFERENCES command_requests (id),
  approver_id text NOT NULL,
  approver_name text,
  -- The approver's role when they approved; re-checked against their current role at run time.
  approver_level text NOT NULL,
  -- The plan hash of the message they clicked.
  plan_hash text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  -- A double click, a replayed interaction: one approval.
  PRIMARY KEY (request_id, approver_id, plan_hash)
);

-- Break-glass windows: for the window one approval suffices for anything.
CREATE TABLE break_glass_windows (
  id bigserial PRIMARY KEY,
  granted_by text NOT NULL,
  granted_name text,
  granted_level text NOT NULL,
  reason text NOT NULL CHECK (length(reason) <= 300),
  channel_id text NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
  -- When it was announced as ended (by itself or early); null while open.
  closed_at timestamptz
);
CREATE INDEX break_glass_windows_ends ON break_glass_windows (ends_at);

-- What was done for an incident (one line per finished command), shown on its Slack message.
ALTER TABLE incidents ADD COLUMN commands_done jsonb NOT NULL DEFAULT '[]';

-- Down Migration
ALTER TABLE incidents DROP COLUMN commands_done;
DROP TABLE break_glass_windows;
DROP TABLE command_approvals;
DROP TABLE command_requests;
