-- Web Push subscriptions of residents following their own report, who have no account:
-- the follow token proves the report is theirs when they subscribe, and nothing else is
-- kept of them. A case keeps at most a handful (the server keeps the newest five), one
-- per endpoint; the endpoint is a capability URL, never logged in full. A send that
-- fails with 429 or 5xx backs off as a worker's does: `failures` in a row, and no
-- attempt before `next_attempt_at_ms`; a 404 or 410 deletes the row.
CREATE TABLE report_subscriptions (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, endpoint)
);
