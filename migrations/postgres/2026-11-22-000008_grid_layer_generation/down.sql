DROP TABLE grid_layer;
