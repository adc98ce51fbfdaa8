-- The embedded tracker, SQLite edition: same tables and meaning as
-- migrations/postgres/0002_tracker_projects.sql.

CREATE TABLE tracker_projects (
    id             BLOB PRIMARY KEY,
    identifier     TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    next_sequence  INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL
) STRICT;

CREATE TABLE tracker_states (
    id          BLOB PRIMARY KEY,
    project_id  BLOB NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    state_group TEXT NOT NULL CHECK (state_group IN ('backlog', 'unstarted', 'started', 'completed', 'cancelled', 'triage')),
    is_default  INTEGER NOT NULL DEFAULT 0,
    position    INTEGER NOT NULL,
    UNIQUE (project_id, name)
) STRICT;
CREATE UNIQUE INDEX tracker_states_one_default ON tracker_states (project_id) WHERE is_default;

CREATE TABLE tracker_labels (
    id          BLOB PRIMARY KEY,
    project_id  BLOB NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    color       TEXT NOT NULL,
    UNIQUE (project_id, name)
) STRICT;

CREATE TABLE tracker_members (
    project_id    BLOB NOT NULL REFERENCES tracker_projects (id),
    user_id       BLOB NOT NULL,
    display_name  TEXT NOT NULL,
    role          INTEGER NOT NULL CHECK (role IN (5, 15, 20)),
    PRIMARY KEY (project_id, user_id)
) STRICT;
