-- The open work each dispatch target holds (the centre's page shows it beside each
-- candidate of a dispatch): active tasks by their target, read without a scan.
CREATE INDEX tasks_by_target ON tasks (target, status);
