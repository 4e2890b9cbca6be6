-- The change log phones sync from: numbers from one counter row, taken as the last
-- step of each writing transaction, so that they commit in order (ARCHITECTURE.md).
CREATE TABLE log_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO log_counter (id, last_seq) VALUES (1, 0);

CREATE TABLE change_log (
    seq BIGINT PRIMARY KEY,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    data TEXT NOT NULL,
    committed_at_ms BIGINT NOT NULL
);

-- Who must receive each change, fixed at commit; read by (user, seq) through the key.
CREATE TABLE change_audience (
    user_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES change_log (seq),
    removed BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, seq)
);
