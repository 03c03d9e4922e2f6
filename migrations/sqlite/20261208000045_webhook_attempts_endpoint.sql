-- Issue 17 (expand): each webhook attempt names its endpoint, so an endpoint's newest attempt
-- (the credentials pages' "last used", db::health::endpoint_credentials) is one probe of
-- (endpoint_id, attempted_at) instead of a read of the endpoint's whole delivery history.
-- Nullable, no backfill yet: attempts written before this release have none; the read falls
-- back to the deliveries for an endpoint with no such attempt. The index is 20261208000046 (two
-- files, as on PostgreSQL).
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id TEXT;
