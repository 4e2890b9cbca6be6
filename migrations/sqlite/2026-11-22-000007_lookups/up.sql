-- Dispatch resolves a grid or unit to its people by unit_code on every action; without
-- an index that read every user (4,221 in the demo) per dispatch.
CREATE INDEX users_by_unit ON users (unit_code, role);
-- Every node sweeps for sessions revoked and users moved every few seconds (sync::sweep).
CREATE INDEX sessions_by_revocation ON sessions (revoked_at_ms);
CREATE INDEX users_by_scope ON users (scope_seq);
