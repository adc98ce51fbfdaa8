-- Browser sessions of the built-in pages (/ui): an admin who pasted the admin token
-- once, or an owner who opened a one-time sign-in link. The cookie carries a random
-- secret; only its SHA-256 is kept. A sign-in link is usable once, for minutes.
CREATE TABLE ui_sessions (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('admin', 'owner')),
    user_id     UUID REFERENCES users (id),
    hash        BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);

CREATE TABLE ui_sign_in_links (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    hash        BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
