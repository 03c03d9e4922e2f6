-- Issue 17 (expand, after 20261208000045): the index of attempts by endpoint (partial: old rows
-- without an endpoint add no entries).
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at) WHERE endpoint_id IS NOT NULL;
