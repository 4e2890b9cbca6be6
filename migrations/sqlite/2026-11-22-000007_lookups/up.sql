-- Dispatch resolves a grid or unit to its people by unit_code on every action; without
-- an index that read every user (4,221 in the demo) per dispatch.
CREATE INDEX users_by_unit ON users (unit_code, role);
