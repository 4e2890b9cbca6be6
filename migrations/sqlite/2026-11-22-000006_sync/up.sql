-- The log number at which a user's area or role last changed: a device whose cursor is
-- older must start again from a snapshot, since what it holds was chosen by the old scope.
ALTER TABLE users ADD COLUMN scope_seq BIGINT NOT NULL DEFAULT 0;

-- Each device of each user: how far it has acknowledged the log (to know which devices
-- hold a task and which need a push), and when it was last seen.
CREATE TABLE devices (
    user_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    acked_cursor BIGINT NOT NULL,
    connected_at_ms BIGINT NOT NULL,
    last_seen_at_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Where each worker last was while on duty: for the centre's map and for choosing the
-- nearest worker. Kept apart from case history, and only the latest position.
CREATE TABLE worker_positions (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    accuracy_m DOUBLE PRECISION,
    at_ms BIGINT NOT NULL
);
