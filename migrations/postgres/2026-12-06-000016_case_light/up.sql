-- A case's deadline light (green, yellow, red) as a column, written with the case by the
-- one write path, so that the map's counts and the statistics group by it in the
-- database instead of reading every case's workflow state. Cases stored before this
-- column get theirs at the next start (the server restamps the open ones).
ALTER TABLE incidents ADD COLUMN light TEXT NOT NULL DEFAULT 'green';
-- The live cases of an area: the open ones, and those closed since a given time (the
-- map shows the day's closures), read by status without a scan of the whole history.
CREATE INDEX incidents_by_status ON incidents (status, updated_at_ms);
