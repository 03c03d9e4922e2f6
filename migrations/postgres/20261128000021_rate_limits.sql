-- Rate-limit windows shared by every node on PostgreSQL (src/server/http/ratelimit.rs).
-- `bucket` is a SHA-256 of (class, key): client addresses and emails are not stored.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
