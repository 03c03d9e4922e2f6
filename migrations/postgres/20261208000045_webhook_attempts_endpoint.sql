-- Issue 17 (expand): each webhook attempt names its endpoint, so an endpoint's newest attempt
-- (the credentials pages' "last used", db::health::endpoint_credentials) is one probe of
-- (endpoint_id, attempted_at) instead of a read of the endpoint's whole delivery history (0.2-0.8 s
-- for a vendor endpoint with 100,000 deliveries, session 44's review). Nullable, no backfill:
-- attempts written before this release, and by nodes of the previous release during a rolling
-- upgrade, have none; the read falls back to the deliveries for an endpoint with no such attempt
-- (its newest attempt may then be one the fallback does not see only while an older node still
-- delivers). The index is partial, so its build reads the table but writes nothing for old rows;
-- it blocks writes of attempts (not deliveries) while it runs: at most a few seconds at a few
-- million attempts. It waits at most 5 s for the table's lock and then fails this start, which
-- is retried.
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id TEXT;
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at) WHERE endpoint_id IS NOT NULL;
