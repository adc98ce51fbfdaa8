-- Browser sessions of the built-in pages and one-time sign-in links; same meaning as
-- migrations/postgres/0008_ui_sessions.sql. Only SHA-256 hashes of the secrets are kept.
CREATE TABLE ui_sessions (
    id          BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('admin', 'owner')),
    user_id     BLOB REFERENCES users (id),
    hash        BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);

CREATE TABLE ui_sign_in_links (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    hash        BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) STRICT;
