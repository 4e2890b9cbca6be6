DROP TABLE deadlines;
