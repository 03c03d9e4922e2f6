-- Support console: credential use, when a directory became authoritative, and the latest
-- health and drift computed for each organization (by the scheduled job or on demand).
ALTER TABLE directory_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE directories ADD COLUMN authoritative_since BIGINT;
UPDATE directories SET authoritative_since = created_at WHERE authoritative = 1;

CREATE TABLE health_snapshots (
    organization_id TEXT PRIMARY KEY NOT NULL,
    computed_at BIGINT NOT NULL,
    -- ok | attention | failing
    status TEXT NOT NULL,
    -- Higher needs attention sooner.
    score BIGINT NOT NULL,
    health TEXT NOT NULL,
    drift TEXT NOT NULL
);
CREATE INDEX health_snapshots_score ON health_snapshots (score);
