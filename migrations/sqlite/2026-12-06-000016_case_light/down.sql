DROP INDEX incidents_by_status;
ALTER TABLE incidents DROP COLUMN light;
