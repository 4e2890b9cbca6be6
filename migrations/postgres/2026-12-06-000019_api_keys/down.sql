DROP TABLE open311_requests;
DROP TABLE api_keys;
