-- Sensors and gateways (物联感知) registered by an administrator: each reports alarms of
-- one leaf category at one place, proving itself with a key of which only a hash is kept
-- (the key is shown once, when the sensor is registered). Its place is kept in WGS-84,
-- with the grid it lay in when registered. `open_incident_id` is the case its alarms go
-- to while that case is open: a raised alarm then counts as a repeat on it instead of
-- opening another. A revoked sensor is refused but kept, since cases' traces name it.
CREATE TABLE sensors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    grid_code TEXT NOT NULL,
    category_code TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    open_incident_id TEXT REFERENCES incidents (id)
);
