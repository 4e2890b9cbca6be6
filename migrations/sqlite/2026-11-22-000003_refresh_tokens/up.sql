-- A login that names its device also gets a refresh token, stored by its SHA-256 like
-- the session token, so that a worker offline for days can renew without a password.
ALTER TABLE sessions ADD COLUMN refresh_hash TEXT;
ALTER TABLE sessions ADD COLUMN refresh_expires_at_ms BIGINT;
CREATE UNIQUE INDEX sessions_by_refresh ON sessions (refresh_hash);
