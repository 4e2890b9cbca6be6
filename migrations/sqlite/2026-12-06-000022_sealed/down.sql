DROP TABLE worker_positions;
CREATE TABLE worker_positions (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    accuracy_m DOUBLE PRECISION,
    at_ms BIGINT NOT NULL
);
ALTER TABLE incidents DROP COLUMN contact_id_number;
DROP TABLE seal_keys;
