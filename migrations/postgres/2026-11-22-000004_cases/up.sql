-- The change log's audience names subjects, not only users: a user's id, or
-- `unit:<code>` for everyone whose role covers that unit's area (ARCHITECTURE.md:
-- staff who see a whole area read it through the units of their area).
ALTER TABLE change_audience RENAME COLUMN user_id TO subject;

-- The administrative units above the grids (city, county, township, community) and the
-- grids, as last imported; boundaries are GeoJSON geometries in WGS-84. The in-memory
-- index is rebuilt from these rows at start.
CREATE TABLE units (
    code TEXT PRIMARY KEY,
    level INTEGER NOT NULL,
    parent_code TEXT,
    name TEXT NOT NULL,
    boundary TEXT NOT NULL
);
CREATE TABLE grids (
    code TEXT PRIMARY KEY,
    community_code TEXT NOT NULL REFERENCES units (code),
    name TEXT NOT NULL,
    boundary TEXT NOT NULL
);

-- The category tree in force, written at start from the built-in tree or the file.
CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE categories (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT NOT NULL,
    level INTEGER NOT NULL,
    department_code TEXT,
    definition TEXT NOT NULL
);

-- Named counters, e.g. `case-2026` for the human case numbers of a year.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- A case. Its place is kept at every level so that an area is one indexed equality;
-- `state` is the workflow's view of it (JSON), `status` and `level` its searchable parts.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    category_code TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    grid_code TEXT NOT NULL,
    community_code TEXT NOT NULL,
    township_code TEXT NOT NULL,
    county_code TEXT NOT NULL,
    city_code TEXT NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    description TEXT NOT NULL,
    photos TEXT NOT NULL,
    contact_name TEXT,
    contact_phone TEXT,
    source TEXT NOT NULL,
    reporter_id TEXT,
    follow_token_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    reported_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    due_at_ms BIGINT
);
CREATE INDEX incidents_by_grid ON incidents (grid_code, reported_at_ms);
CREATE INDEX incidents_by_community ON incidents (community_code, reported_at_ms);
CREATE INDEX incidents_by_township ON incidents (township_code, reported_at_ms);
CREATE INDEX incidents_by_county ON incidents (county_code, reported_at_ms);
CREATE INDEX incidents_by_city ON incidents (city_code, reported_at_ms);
CREATE INDEX incidents_by_due ON incidents (due_at_ms);

-- One unit of work; who may take it is in task_assignees.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    target TEXT NOT NULL,
    holder_id TEXT,
    status TEXT NOT NULL,
    rework INTEGER NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    due_at_ms BIGINT
);
CREATE INDEX tasks_by_incident ON tasks (incident_id);
CREATE TABLE task_assignees (
    task_id TEXT NOT NULL REFERENCES tasks (id),
    user_id TEXT NOT NULL,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_assignees_by_user ON task_assignees (user_id);

-- The trace (全程留痕): every event of every case, numbered within the case. Never
-- updated, never deleted.
CREATE TABLE events (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    n INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    device_id TEXT,
    data TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (incident_id, n)
);

-- A request's idempotency key (a resident's Idempotency-Key, later a device's mutation
-- id), written in the transaction of its effect, with the body it was bound to and the
-- result to return to a retry.
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at_ms);

-- Uploaded files by the SHA-256 of their bytes, and the cases that reference them
-- (which decide who may fetch them).
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE attachment_refs (
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    PRIMARY KEY (attachment_id, incident_id)
);
