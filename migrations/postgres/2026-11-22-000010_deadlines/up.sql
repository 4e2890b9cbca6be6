-- Every running time limit of a case (受理, 派遣, 处置, 核实, 核查 时限) is a row, written by
-- the one write path in the transaction of the command that starts, moves or ends it
-- (`deadlines::refresh`): when it turns yellow (80 % of the limit, in its own unit) and
-- red (due), whether each has fired, and whose supervision queue (督办) it is in. The
-- timer finds due rows by `next_at_ms` and claims each with a conditional update, so it
-- fires once on any number of nodes and catches up after a stop.
CREATE TABLE deadlines (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    deadline TEXT NOT NULL,
    step TEXT NOT NULL,
    task_id TEXT,
    unit TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    yellow_at_ms BIGINT,
    due_at_ms BIGINT NOT NULL,
    climb_at_ms BIGINT,
    next_at_ms BIGINT,
    parked BOOLEAN NOT NULL,
    warned BOOLEAN NOT NULL,
    overdue BOOLEAN NOT NULL,
    level INTEGER,
    supervisor_code TEXT,
    PRIMARY KEY (incident_id, deadline)
);
CREATE INDEX deadlines_next ON deadlines (next_at_ms);
CREATE INDEX deadlines_supervisor ON deadlines (supervisor_code);
