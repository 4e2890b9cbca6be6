DROP INDEX tasks_by_target;
