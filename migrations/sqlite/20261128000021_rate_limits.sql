-- Rate-limit windows shared by every node on PostgreSQL (src/server/http/ratelimit.rs). SQLite
-- runs one node and keeps its limits in memory; the table exists so both schemas stay alike.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL
);
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
