-- Where each fused grid came from (三网融合): a JSON array of {layer, source, of_grid,
-- of_source}, as `gridlink grids fuse` writes it in the grid's `lineage` property.
-- Empty for grids drawn directly.
ALTER TABLE grids ADD COLUMN lineage TEXT;
