-- Issue 17 (expand): each webhook attempt names its endpoint, so an endpoint's newest attempt
-- (the credentials pages' "last used", db::health::endpoint_credentials) is one probe of
-- (endpoint_id, attempted_at) instead of a read of the endpoint's whole delivery history (0.2-0.8 s
-- for a vendor endpoint with 100,000 deliveries, session 44's review). Nullable, no backfill yet:
-- attempts written before this release, and by nodes of the previous release during a rolling
-- upgrade, have none; the read falls back to the deliveries for an endpoint with no such attempt.
-- The column alone here: ADD COLUMN holds the table's exclusive lock for milliseconds; the index
-- is built in 20261208000046, its own transaction, under the share lock only (reads go on).
-- It waits at most 5 s for the lock and then fails this start, which is retried.
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id TEXT;
