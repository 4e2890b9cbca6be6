-- Open311 clients' API keys (`gridlink keys add`, `POST /api/v1/keys`): a key is handed to
-- its client once and only its SHA-256 is kept, as with sessions, so a copy of the database
-- yields no usable key. A key is revoked, never deleted: the cases it filed name it.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    contact TEXT,
    key_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

-- What an Open311 request brought beside the case itself, written in the transaction that
-- opened the case: the key that filed it, the attributes its service defines, the media URL
-- (kept as a link, never fetched), and the client's own identifiers. `email` is personal
-- data: never shown on any read of the case.
CREATE TABLE open311_requests (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    api_key_id TEXT NOT NULL REFERENCES api_keys (id),
    attributes TEXT NOT NULL,
    media_url TEXT,
    email TEXT,
    device_id TEXT,
    account_id TEXT
);

-- Open311's list of requests reads a window of report dates, newest first, whatever the
-- area: the place indexes above do not serve it.
CREATE INDEX incidents_by_reported ON incidents (reported_at_ms, id);
