DROP TABLE change_audience;
DROP TABLE change_log;
DROP TABLE log_counter;
