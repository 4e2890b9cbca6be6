-- Personal data sealed at rest (see server/src/seal): names, phone numbers, ID numbers,
-- e-mails and workers' positions are stored as `sealed:v1:<key id>:<base64>` under a key
-- from the configuration, never in plain form.

-- Each key id the database has seen, with a value sealed under it: at start-up a key
-- file that lacks one of these ids, or whose key does not open its value, is refused.
CREATE TABLE seal_keys (
    id TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    added_at_ms BIGINT NOT NULL
);

-- A reporter's ID number (身份证号), if given: sealed like the name and the phone.
ALTER TABLE incidents ADD COLUMN contact_id_number TEXT;

-- A worker's position as one sealed value (`[lon, lat]`), kept only while they are on
-- duty and for a limited time. Positions stored in plain form before are dropped rather
-- than sealed: the map shows none older than a quarter of an hour anyway.
DROP TABLE worker_positions;
CREATE TABLE worker_positions (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    place TEXT NOT NULL,
    accuracy_m DOUBLE PRECISION,
    at_ms BIGINT NOT NULL
);
CREATE INDEX worker_positions_by_time ON worker_positions (at_ms);
