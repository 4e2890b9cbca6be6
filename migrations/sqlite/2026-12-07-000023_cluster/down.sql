DROP INDEX change_audience_by_seq;
DROP TABLE cluster_identity;
