DROP INDEX users_by_unit;
