-- Foundation: users projected from Launcher, agents, tokens, grants, audit,
-- idempotency keys, entitlement changes, gateway settings.
-- The SQLite set (migrations/sqlite/0001_foundation.sql) has the same meaning.

CREATE TABLE users (
    id            UUID PRIMARY KEY,            -- the Launcher user id
    client_id     TEXT NOT NULL,               -- the Launcher client (tenant)
    display_name  TEXT NOT NULL,
    blocked       BOOLEAN NOT NULL DEFAULT FALSE,
    codex_agents  BOOLEAN NOT NULL DEFAULT FALSE, -- the module entitlement
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE agents (
    id              UUID PRIMARY KEY,
    owner_id        UUID NOT NULL REFERENCES users (id),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'disabled')),
    status_reason   TEXT,
    rate_per_minute INTEGER CHECK (rate_per_minute > 0),
    rate_burst      INTEGER CHECK (rate_burst > 0),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE INDEX agents_owner ON agents (owner_id);

CREATE TABLE tokens (
    id            UUID PRIMARY KEY,
    agent_id      UUID NOT NULL REFERENCES agents (id),
    hash          BYTEA NOT NULL UNIQUE,       -- SHA-256 of the whole token
    display       TEXT NOT NULL,               -- prefix and first characters, for humans
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE grants (
    agent_id    UUID NOT NULL REFERENCES agents (id),
    project_id  TEXT NOT NULL,
    scopes      TEXT NOT NULL,                 -- space-separated, sorted
    PRIMARY KEY (agent_id, project_id)
);

CREATE TABLE audit (
    id               BIGSERIAL PRIMARY KEY,
    at               TIMESTAMPTZ NOT NULL,
    request_id       TEXT NOT NULL,
    agent_id         UUID,
    owner_id         UUID,
    action           TEXT NOT NULL,            -- tool name or admin action
    project_id       TEXT,
    target           TEXT,
    outcome          TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    reason           TEXT,
    idempotency_key  TEXT,
    latency_us       BIGINT NOT NULL
);
CREATE INDEX audit_agent_id ON audit (agent_id, id DESC);
CREATE INDEX audit_at ON audit (at);

-- The audit log is append-only.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

CREATE TABLE idempotency_keys (
    agent_id     UUID NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  BYTEA NOT NULL,               -- SHA-256 of the tool and its arguments
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response     TEXT,                         -- the stored result, JSON
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agent_id, key)
);
CREATE INDEX idempotency_expiry ON idempotency_keys (expires_at);

CREATE TABLE entitlement_changes (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    user_id      UUID NOT NULL,
    client_id    TEXT NOT NULL,
    change       TEXT NOT NULL,                -- granted, withdrawn, blocked, unblocked, annulled
    source       TEXT NOT NULL,                -- admin, launcher
    detail       TEXT
);
CREATE INDEX entitlement_changes_user ON entitlement_changes (user_id, id DESC);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
