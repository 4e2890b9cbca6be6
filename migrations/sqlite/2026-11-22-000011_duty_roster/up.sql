-- The duty roster (值班表) routing reads: which grid worker is on duty in a grid, when.
-- A grid's shifts are replaced whole; `position` keeps their order, and the first shift
-- that covers an instant names the worker on duty (routing::on_duty).
CREATE TABLE duty_roster (
    grid_code TEXT NOT NULL,
    position INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    weekdays INTEGER NOT NULL,
    from_min INTEGER NOT NULL,
    to_min INTEGER NOT NULL,
    PRIMARY KEY (grid_code, position)
);
