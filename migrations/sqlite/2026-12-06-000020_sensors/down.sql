DROP TABLE sensors;
