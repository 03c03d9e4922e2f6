-- Issue 17, expand: the lease's walk of an endpoint's pending deliveries in feed order without
-- naming `next_attempt_at` (see the PostgreSQL file of this name: there, once a later contract
-- release drops the indexes that name it, a lease is a heap-only update; here a lease then
-- rewrites its rows and no index entry). `created_at >= 0` is always true; the lease's scan
-- states it (db::webhooks::due) and the per-entity head probe does not, as on PostgreSQL.
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_walk ON webhook_deliveries (endpoint_id, event_cursor) WHERE state = 'pending' AND created_at >= 0;
