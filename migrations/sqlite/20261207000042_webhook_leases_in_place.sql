-- Issue 17: a lease (db::webhooks::lease_sql) changes only `next_attempt_at`; with no index
-- naming that column it rewrites the row and no index entry. (On PostgreSQL the same change
-- lets the lease be a heap-only update.)
-- webhook_deliveries_due (state, next_attempt_at): no statement needs it. The lease and
-- has_due walk webhook_deliveries_pending_order, the outcome and redelivery updates find their
-- rows by key, and the pending count of /metrics scans webhook_deliveries_pending_order.
DROP INDEX IF EXISTS webhook_deliveries_due;
-- webhook_deliveries_entity (endpoint_id, entity_key, event_cursor): the per-entity head probe
-- reads the pending deliveries only (webhook_deliveries_pending_heads); nothing else reads by
-- entity.
DROP INDEX IF EXISTS webhook_deliveries_entity;
