-- Owner self-service sessions: an owner (a Launcher user) authenticated by the Tasker
-- or Launcher gets a short-lived bearer token for the owner API. Hash only, as tokens.
CREATE TABLE owner_sessions (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    hash        BYTEA NOT NULL UNIQUE,
    display     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX owner_sessions_user ON owner_sessions (user_id);
