-- Owner self-service sessions; same meaning as migrations/postgres/0003_owner_sessions.sql.
CREATE TABLE owner_sessions (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    hash        BLOB NOT NULL UNIQUE,
    display     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
CREATE INDEX owner_sessions_user ON owner_sessions (user_id);
