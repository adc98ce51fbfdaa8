-- Launcher events applied once and in order (issue 14, item 3).
--
-- users: when each fact of a user's standing was last set, by the clock of whoever set
-- it (a Launcher event's occurred_at, or the gateway's clock for the admin API). An event
-- older than the stamp of the fact it changes is recorded but does not override it.
ALTER TABLE users ADD COLUMN entitlement_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN blocked_at TIMESTAMPTZ;
-- launcher_events: when the event happened (as sent, or as received when the sender gave
-- no time), and whether it was applied or superseded by a newer change.
ALTER TABLE launcher_events ADD COLUMN occurred_at TIMESTAMPTZ;
ALTER TABLE launcher_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'applied'
    CHECK (outcome IN ('applied', 'superseded'));
