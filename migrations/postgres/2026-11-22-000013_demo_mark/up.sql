-- Facts about the database as a whole, by name. `demo`: `gridlink serve --demo` filled it,
-- and its demo accounts, whose password `demo` is public, can log in; no server listens on
-- a non-loopback address over it (value: when marked, Unix ms). `demo_purged`: when
-- `gridlink users purge-demo` disabled them (value: Unix ms); `--demo` is refused from then on.
CREATE TABLE database_marks (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- An account is disabled, never deleted: the history of cases names its id. A disabled
-- account's sessions are revoked, its password replaced by one nobody knows, and no task
-- goes to it.
ALTER TABLE users ADD COLUMN disabled_at_ms BIGINT;

-- A database the demo filled before the mark existed: its `admin` has the demo's id (the
-- UUID v5 of the login in the demo's namespace, `auth::demo`).
INSERT INTO database_marks (name, value)
SELECT 'demo', '0' WHERE EXISTS (
    SELECT 1 FROM users WHERE id = 'c737afb8-bc4b-52ae-8ccf-2f5ce0ac7b22' AND login = 'admin'
);
