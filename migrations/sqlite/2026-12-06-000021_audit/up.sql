-- The trace (全程留痕) made tamper-evident: every case event, login, logout, account,
-- roster and key change and unmasked read is an entry here, numbered by `seq` from 1
-- with no gap. Each entry's `hash` is the SHA-256 of its content together with
-- `prev_hash` (the hash of entry seq - 1) and `case_prev_hash` (the hash of the case's
-- previous entry), so an edited, deleted or reordered entry breaks the chain where it
-- stands (`gridlink audit verify`), and one case's entries can be checked on their own.
-- Never updated, never deleted.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    device_id TEXT,
    incident_id TEXT,
    subject TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    case_prev_hash TEXT,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_incident ON audit_log (incident_id, seq);

-- The chain's head: the last entry's number and hash. Writers take it first (an UPDATE,
-- so on PostgreSQL its row lock orders them), and deleting the newest entries is caught
-- against it.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
