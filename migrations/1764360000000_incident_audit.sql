-- Up Migration

-- The on-call's incident controls (acknowledge, resolve, escalate now, snooze, reassign, post-mortem
-- link) join the audit trail. Existing rows keep their kinds and hashes.
ALTER TABLE audit_trail DROP CONSTRAINT audit_trail_kind_check;
ALTER TABLE audit_trail ADD CONSTRAINT audit_trail_kind_check CHECK (kind IN (
  'request', 'approval', 'rejection', 'expiry', 'start', 'step', 'result', 'cancel',
  'interrupted', 'break-glass', 'read-only', 'refusal', 'incident-action'
));

-- Down Migration
ALTER TABLE audit_trail DROP CONSTRAINT audit_trail_kind_check;
ALTER TABLE audit_trail ADD CONSTRAINT audit_trail_kind_check CHECK (kind IN (
  'request', 'approval', 'rejection', 'expiry', 'start', 'step', 'result', 'cancel',
  'interrupted', 'break-glass', 'read-only', 'refusal'
));
