DROP INDEX users_by_scope;
DROP INDEX sessions_by_revocation;
DROP INDEX users_by_unit;
