-- Reporting mode: work sessions an agent reports, their activities, and what the gateway
-- saw of them. Sessions are never deleted (like Plane's agent runs).
CREATE TABLE work_sessions (
    id                 BLOB PRIMARY KEY,
    agent_id           BLOB NOT NULL REFERENCES agents (id),
    owner_id           BLOB NOT NULL,
    card               TEXT NOT NULL,                 -- the card it is on now, e.g. OPS-12
    intent             TEXT NOT NULL,
    plan               TEXT NOT NULL DEFAULT '[]',    -- JSON: [{"step": "...", "done": false}]
    state              TEXT NOT NULL CHECK (state IN
                           ('in_progress', 'awaiting', 'stopping', 'completed', 'failed', 'stopped')),
    outcome            TEXT CHECK (outcome IN ('completed', 'failed', 'abandoned')),
    summary            TEXT,
    comment_id         TEXT,
    stop_requested_at  TEXT,
    stop_requested_by  TEXT,
    stop_reason        TEXT,
    started_at         TEXT NOT NULL,
    reported_at        TEXT NOT NULL,          -- the agent's last report
    changed_at         TEXT NOT NULL,          -- any change (replicas reconcile from it)
    ended_at           TEXT
);
-- One open session per agent, enforced by the store.
CREATE UNIQUE INDEX work_sessions_open ON work_sessions (agent_id) WHERE ended_at IS NULL;
CREATE INDEX work_sessions_started ON work_sessions (started_at DESC, id DESC);
CREATE INDEX work_sessions_agent ON work_sessions (agent_id, started_at DESC);
CREATE INDEX work_sessions_owner ON work_sessions (owner_id, started_at DESC);

CREATE TABLE work_session_activities (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  BLOB NOT NULL REFERENCES work_sessions (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN
                    ('started', 'thought', 'action', 'elicitation', 'card_switched',
                     'stop_requested', 'finished', 'stopped', 'superseded')),
    note        TEXT NOT NULL,
    card        TEXT
);
CREATE INDEX work_session_activities_session ON work_session_activities (session_id, id);

-- Every call made while a session is open names it: "observed" is read from here.
ALTER TABLE audit ADD COLUMN work_session_id BLOB;
CREATE INDEX audit_work_session ON audit (work_session_id, at) WHERE work_session_id IS NOT NULL;

-- The embedded tracker's history names the session a write was made in.
ALTER TABLE tracker_history ADD COLUMN work_session_id TEXT;

-- The client an agent last initialized with, and whether a pending stop refuses writes.
ALTER TABLE agents ADD COLUMN client_name TEXT;
ALTER TABLE agents ADD COLUMN client_version TEXT;
ALTER TABLE agents ADD COLUMN client_seen_at TEXT;
ALTER TABLE agents ADD COLUMN stop_refuses_writes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX work_sessions_changed ON work_sessions (changed_at);
