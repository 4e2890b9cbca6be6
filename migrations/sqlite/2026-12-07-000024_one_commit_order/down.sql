CREATE TABLE log_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq BIGINT NOT NULL
);
INSERT INTO log_counter (id, last_seq) SELECT 1, change_seq FROM audit_head WHERE id = 1;
ALTER TABLE audit_head DROP COLUMN change_seq;
