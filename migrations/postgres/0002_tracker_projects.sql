-- The embedded tracker (GATEWAY_TASKER=embedded): projects with their states, labels
-- and members, as Plane models them. Cards, comments and history follow in the Tasker
-- port's migration. Same meaning as migrations/sqlite/0002_tracker_projects.sql.

CREATE TABLE tracker_projects (
    id             UUID PRIMARY KEY,
    identifier     TEXT NOT NULL UNIQUE,     -- short key shown in card ids, e.g. WEB in WEB-12
    name           TEXT NOT NULL,
    next_sequence  INTEGER NOT NULL DEFAULT 1,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE tracker_states (
    id          UUID PRIMARY KEY,
    project_id  UUID NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    state_group TEXT NOT NULL CHECK (state_group IN ('backlog', 'unstarted', 'started', 'completed', 'cancelled', 'triage')),
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    position    INTEGER NOT NULL,
    UNIQUE (project_id, name)
);
-- One default state per project.
CREATE UNIQUE INDEX tracker_states_one_default ON tracker_states (project_id) WHERE is_default;

CREATE TABLE tracker_labels (
    id          UUID PRIMARY KEY,
    project_id  UUID NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    color       TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE tracker_members (
    project_id    UUID NOT NULL REFERENCES tracker_projects (id),
    user_id       UUID NOT NULL,
    display_name  TEXT NOT NULL,
    role          INTEGER NOT NULL CHECK (role IN (5, 15, 20)), -- Plane: 20 admin, 15 member, 5 guest
    PRIMARY KEY (project_id, user_id)
);
