-- The embedded tracker (GATEWAY_TASKER=embedded), as Plane models it: projects with
-- states (Plane's groups), labels and members (roles 20/15/5); cards with per-project
-- sequence ids, priorities, labels, assignees, parent, dates and named structured blocks;
-- comments; a history of every change (which agent, on behalf of which owner); and the
-- adapter's own idempotency records. One implementation serves both engines
-- (src/tasker/embedded, over sqlx's Any driver), so the columns use types both engines
-- share: TEXT ids (UUIDs), BIGINT Unix milliseconds, INTEGER flags.

CREATE TABLE tracker_projects (
    id             TEXT PRIMARY KEY,
    identifier     TEXT NOT NULL UNIQUE,    -- short key shown in card ids, e.g. WEB in WEB-12
    name           TEXT NOT NULL,
    next_sequence  BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL
);

CREATE TABLE tracker_states (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    state_group TEXT NOT NULL CHECK (state_group IN ('backlog', 'unstarted', 'started', 'completed', 'cancelled', 'triage')),
    is_default  BIGINT NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    position    BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
-- One default state per project.
CREATE UNIQUE INDEX tracker_states_one_default ON tracker_states (project_id) WHERE is_default = 1;

CREATE TABLE tracker_labels (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES tracker_projects (id),
    name        TEXT NOT NULL,
    color       TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE tracker_members (
    project_id    TEXT NOT NULL REFERENCES tracker_projects (id),
    user_id       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          BIGINT NOT NULL CHECK (role IN (5, 15, 20)), -- 20 admin, 15 member, 5 guest
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE tracker_cards (
    id           TEXT PRIMARY KEY,              -- UUIDv7: sorts by creation
    project_id   TEXT NOT NULL REFERENCES tracker_projects (id),
    sequence_id  BIGINT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    priority     TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'medium', 'low', 'none')),
    state_id     TEXT NOT NULL REFERENCES tracker_states (id),
    parent_id    TEXT REFERENCES tracker_cards (id),
    start_date   TEXT,                          -- YYYY-MM-DD
    target_date  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (project_id, sequence_id)
);
CREATE INDEX tracker_cards_project ON tracker_cards (project_id, id);

CREATE TABLE tracker_card_labels (
    card_id   TEXT NOT NULL REFERENCES tracker_cards (id),
    label_id  TEXT NOT NULL REFERENCES tracker_labels (id),
    PRIMARY KEY (card_id, label_id)
);

CREATE TABLE tracker_card_assignees (
    card_id  TEXT NOT NULL REFERENCES tracker_cards (id),
    user_id  TEXT NOT NULL,
    PRIMARY KEY (card_id, user_id)
);

CREATE TABLE tracker_blocks (
    card_id     TEXT NOT NULL REFERENCES tracker_cards (id),
    name        TEXT NOT NULL,                  -- e.g. "acceptance criteria", "plan"
    content     TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (card_id, name)
);

CREATE TABLE tracker_comments (
    id          TEXT PRIMARY KEY,
    card_id     TEXT NOT NULL REFERENCES tracker_cards (id),
    body        TEXT NOT NULL,
    actor       TEXT NOT NULL,                  -- "AgentName (on behalf of Owner)"
    agent_id    TEXT,
    owner_id    TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tracker_comments_card ON tracker_comments (card_id, created_at);

CREATE TABLE tracker_history (
    id          TEXT PRIMARY KEY,
    card_id     TEXT NOT NULL REFERENCES tracker_cards (id),
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,                  -- "AgentName (on behalf of Owner)"
    agent_id    TEXT,
    owner_id    TEXT,
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX tracker_history_card ON tracker_history (card_id, id);

-- Idempotency of adapter writes: a retry with the same key returns the first response.
CREATE TABLE tracker_requests (
    agent_id     TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (agent_id, key)
);
