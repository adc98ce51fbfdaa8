-- Launcher webhook deliveries already applied (replay and duplicate protection).
CREATE TABLE launcher_events (
    id           TEXT PRIMARY KEY,
    received_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX agents_updated ON agents (updated_at);
CREATE INDEX users_updated ON users (updated_at);
