-- Up Migration

-- The playbook's one-line verdict and the runbook fixes it proposes, shown in the incident message.
ALTER TABLE incidents
  ADD COLUMN diagnosis_verdict text,
  ADD COLUMN diagnosed_at timestamptz,
  ADD COLUMN proposed_actions jsonb NOT NULL DEFAULT '[]';

-- Down Migration
ALTER TABLE incidents
  DROP COLUMN diagnosis_verdict,
  DROP COLUMN diagnosed_at,
  DROP COLUMN proposed_actions;
