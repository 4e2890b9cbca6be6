-- Keys the server makes for itself on first start and every node shares, by name
-- (`vapid_private`: the Web Push signing key, a P-256 scalar in base64url).
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One Web Push subscription per (user, device), replaced when the device subscribes
-- again. The endpoint is a capability URL: whoever knows it can push to the device.
-- A send that fails with 429 or 5xx backs off: `failures` in a row, and no attempt
-- before `next_attempt_at_ms`.
CREATE TABLE push_subscriptions (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id)
);
CREATE INDEX push_subscriptions_by_endpoint ON push_subscriptions (endpoint);
