DROP TRIGGER events_no_truncate ON events;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION gridlink_append_only() CASCADE;
DROP TABLE audit_head;
DROP TABLE audit_log;
