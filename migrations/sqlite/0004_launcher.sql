-- Launcher webhook deliveries already applied; same meaning as the Postgres set.
CREATE TABLE launcher_events (
    id           TEXT PRIMARY KEY,
    received_at  TEXT NOT NULL
) STRICT;
CREATE INDEX agents_updated ON agents (updated_at);
CREATE INDEX users_updated ON users (updated_at);
