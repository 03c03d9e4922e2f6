-- Issue 17 (expand): each webhook attempt names its endpoint, so an endpoint's newest attempt
-- (the credentials pages' "last used", db::health::endpoint_credentials) is one probe of
-- (endpoint_id, attempted_at) instead of a read of the endpoint's whole delivery history.
-- Nullable, no backfill: attempts written before this release have none; the read falls back to
-- the deliveries for an endpoint with no such attempt. Same file in migrations/postgres.
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id TEXT;
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at) WHERE endpoint_id IS NOT NULL;
