ALTER TABLE incidents DROP COLUMN severity;
