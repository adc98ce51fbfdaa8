-- Foundation, SQLite edition: same tables and meaning as migrations/postgres.
-- UUIDs are 16-byte BLOBs, timestamps RFC 3339 TEXT, booleans INTEGER 0/1.

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    client_id     TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    blocked       INTEGER NOT NULL DEFAULT 0,
    codex_agents  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE agents (
    id              BLOB PRIMARY KEY,
    owner_id        BLOB NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'disabled')),
    status_reason   TEXT,
    rate_per_minute INTEGER CHECK (rate_per_minute > 0),
    rate_burst      INTEGER CHECK (rate_burst > 0),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (owner_id, name)
) STRICT;
CREATE INDEX agents_owner ON agents (owner_id);

CREATE TABLE tokens (
    id            BLOB PRIMARY KEY,
    agent_id      BLOB NOT NULL REFERENCES agents (id),
    hash          BLOB NOT NULL UNIQUE,
    display       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
) STRICT;
CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE grants (
    agent_id    BLOB NOT NULL REFERENCES agents (id),
    project_id  TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    PRIMARY KEY (agent_id, project_id)
) STRICT;

CREATE TABLE audit (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               TEXT NOT NULL,
    request_id       TEXT NOT NULL,
    agent_id         BLOB,
    owner_id         BLOB,
    action           TEXT NOT NULL,
    project_id       TEXT,
    target           TEXT,
    outcome          TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    reason           TEXT,
    idempotency_key  TEXT,
    latency_us       INTEGER NOT NULL
);
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

CREATE TABLE idempotency_keys (
    agent_id     BLOB NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response     TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (agent_id, key)
) STRICT;
CREATE INDEX idempotency_expiry ON idempotency_keys (expires_at);

CREATE TABLE entitlement_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    user_id      BLOB NOT NULL,
    client_id    TEXT NOT NULL,
    change       TEXT NOT NULL,
    source       TEXT NOT NULL,
    detail       TEXT
);
CREATE INDEX entitlement_changes_user ON entitlement_changes (user_id, id DESC);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
