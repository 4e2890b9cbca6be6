-- What the statistics count, one row per case (docs/statistics.md): when each step of
-- the loop ended, who did it, whether any step ran past its limit, the rating. The one
-- write path keeps a case's row beside the case in the same transaction, folding each
-- event in as it is committed; the figures are then sums over these rows, grouped and
-- filtered by the columns copied from the case (place, category, report time).
CREATE TABLE case_figures (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    reported_at_ms BIGINT NOT NULL,
    city_code TEXT NOT NULL,
    county_code TEXT NOT NULL,
    township_code TEXT NOT NULL,
    community_code TEXT NOT NULL,
    grid_code TEXT NOT NULL,
    category_code TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at_ms BIGINT,
    reporter_id TEXT,
    accepted_at_ms BIGINT,
    registered_at_ms BIGINT,
    dispatched_at_ms BIGINT,
    handled_at_ms BIGINT,
    verified_at_ms BIGINT,
    closed_at_ms BIGINT,
    reworked INTEGER NOT NULL DEFAULT 0,
    accept_late INTEGER NOT NULL DEFAULT 0,
    dispatch_late INTEGER NOT NULL DEFAULT 0,
    confirm_late INTEGER NOT NULL DEFAULT 0,
    handle_late INTEGER NOT NULL DEFAULT 0,
    verify_late INTEGER NOT NULL DEFAULT 0,
    extensions INTEGER NOT NULL DEFAULT 0,
    parks INTEGER NOT NULL DEFAULT 0,
    rating TEXT,
    self_handled INTEGER NOT NULL DEFAULT 0,
    handler_kind TEXT,
    handler_code TEXT,
    handler_id TEXT,
    confirmer_id TEXT,
    verifier_id TEXT,
    -- Stored in the order of the grid codes, which extend the codes of every unit
    -- above them: an area's cases lie side by side, read as one range, never a lookup
    -- per case (a county's 100,000 cases read through a secondary index took 0.5 s).
    PRIMARY KEY (grid_code, reported_at_ms, incident_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX case_figures_by_case ON case_figures (incident_id);
