-- What the statistics count, one row per case (docs/statistics.md): when each step of
-- the loop ended, who did it, whether any step ran past its limit, the rating. The one
-- write path keeps a case's row beside the case in the same transaction, folding each
-- event in as it is committed; the figures are then sums over these rows, grouped and
-- filtered by the columns copied from the case (place, category, report time).
CREATE TABLE case_figures (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
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
    verifier_id TEXT
);
-- An area is a range of grid codes (they extend the codes of every unit above them),
-- then a period.
CREATE INDEX case_figures_by_place ON case_figures (grid_code, reported_at_ms);
