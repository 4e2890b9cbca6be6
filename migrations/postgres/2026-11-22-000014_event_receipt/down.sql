ALTER TABLE events DROP COLUMN received_at_ms;
