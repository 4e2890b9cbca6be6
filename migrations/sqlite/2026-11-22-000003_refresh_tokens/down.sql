DROP INDEX sessions_by_refresh;
ALTER TABLE sessions DROP COLUMN refresh_expires_at_ms;
ALTER TABLE sessions DROP COLUMN refresh_hash;
