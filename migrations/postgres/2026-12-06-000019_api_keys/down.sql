DROP INDEX incidents_by_reported;
DROP TABLE open311_requests;
DROP TABLE api_keys;
