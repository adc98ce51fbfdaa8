-- A write's intent is audited durably before the Tasker is called, so no tracker change
-- exists without an audit row that names it, even if the gateway dies in between.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt, rows, ids, indexes and
-- the append-only triggers included (DROP TABLE fires no DELETE trigger).
CREATE TABLE audit_next (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               TEXT NOT NULL,
    request_id       TEXT NOT NULL,
    agent_id         BLOB,
    owner_id         BLOB,
    action           TEXT NOT NULL,
    project_id       TEXT,
    target           TEXT,
    outcome          TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed', 'intent')),
    reason           TEXT,
    idempotency_key  TEXT,
    latency_us       INTEGER NOT NULL
);
INSERT INTO audit_next (id, at, request_id, agent_id, owner_id, action, project_id, target,
                        outcome, reason, idempotency_key, latency_us)
    SELECT id, at, request_id, agent_id, owner_id, action, project_id, target,
           outcome, reason, idempotency_key, latency_us
    FROM audit;
DROP TABLE audit;
ALTER TABLE audit_next RENAME TO audit;
CREATE INDEX audit_agent_id ON audit (agent_id, id DESC);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only');
END;
