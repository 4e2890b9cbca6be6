-- The change log's counter joins the trace's head row: every writing transaction took
-- both rows and held them to its commit, so one row orders writers as well as two did,
-- with one lock and one statement fewer inside it (docs/architecture.md).
ALTER TABLE audit_head ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET change_seq = (SELECT last_seq FROM log_counter WHERE log_counter.id = 1);
DROP TABLE log_counter;
