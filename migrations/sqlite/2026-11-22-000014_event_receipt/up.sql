-- When the server heard of an event, beside `at_ms`, when it happened: a phone offline in
-- the field sends its work late with the time it was done (docs/domain.md, "Claims are not
-- commands"). Empty for events recorded before this column existed.
ALTER TABLE events ADD COLUMN received_at_ms BIGINT;
