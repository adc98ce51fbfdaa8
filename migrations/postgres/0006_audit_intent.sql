-- A write's intent is audited durably before the Tasker is called, so no tracker change
-- exists without an audit row that names it, even if the gateway dies in between.
ALTER TABLE audit DROP CONSTRAINT audit_outcome_check;
ALTER TABLE audit ADD CONSTRAINT audit_outcome_check
    CHECK (outcome IN ('allowed', 'denied', 'failed', 'intent'));
