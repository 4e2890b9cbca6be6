-- Which grid layer is stored: a number that every import (geo::store::save_layer) raises
-- in the transaction that replaces the layer. Every server node polls it and, when it
-- moves, loads the new layer and swaps its index without stopping; so a layer imported
-- by `gridlink grids import` reaches every node, however many there are.
CREATE TABLE grid_layer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    saved_at_ms BIGINT NOT NULL
);
INSERT INTO grid_layer (id, generation, saved_at_ms) VALUES (1, 0, 0);
