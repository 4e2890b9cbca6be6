DROP TABLE worker_positions;
DROP TABLE devices;
ALTER TABLE users DROP COLUMN scope_seq;
