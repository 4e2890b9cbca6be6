-- Several nodes on one database (`gridlink serve --nats`): the name their messages carry,
-- so that clusters sharing one NATS server never hear each other. Drawn once, by the
-- first node that starts (`server/src/cluster/store.rs`).
CREATE TABLE cluster_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL
);

-- A node cut off from NATS reads who each new change concerns by number.
CREATE INDEX change_audience_by_seq ON change_audience (seq);
