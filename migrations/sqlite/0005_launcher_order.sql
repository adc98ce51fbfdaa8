-- Launcher events applied once and in order; same meaning as the Postgres set.
ALTER TABLE users ADD COLUMN entitlement_at TEXT;
ALTER TABLE users ADD COLUMN blocked_at TEXT;
ALTER TABLE launcher_events ADD COLUMN occurred_at TEXT;
ALTER TABLE launcher_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'applied'
    CHECK (outcome IN ('applied', 'superseded'));
