-- Issue 17: a lease (db::webhooks::lease_sql) changes only `next_attempt_at`. With no index
-- naming that column, in its key or its predicate, PostgreSQL makes the update on the row's own
-- page (a heap-only tuple: no new entry in any of the table's five indexes) instead of writing
-- a new entry into each of them.
-- webhook_deliveries_due (state, next_attempt_at): no statement needs it. The lease and
-- has_due walk webhook_deliveries_pending_order, the outcome and redelivery updates find their
-- rows by key, and the pending count of /metrics reads a pending-only index.
DROP INDEX IF EXISTS webhook_deliveries_due;
-- webhook_deliveries_entity (endpoint_id, entity_key, event_cursor): the per-entity head probe
-- reads the pending deliveries only (webhook_deliveries_pending_heads); nothing else reads by
-- entity.
DROP INDEX IF EXISTS webhook_deliveries_entity;
-- The lease's walk in feed order (migration 37) with `created_at >= 0` (always true; a column
-- written once) in place of `next_attempt_at IS NOT NULL`. The per-entity head probe says
-- nothing of created_at, so it cannot walk this index: on a new, unanalyzed table PostgreSQL
-- otherwise walks it for the probe, filtering by entity (592 rows read to lease 32 of 3,000,
-- tests/api/query_plans.rs), instead of webhook_deliveries_pending_heads. The lease's scan
-- states the condition (db::webhooks::due).
DROP INDEX IF EXISTS webhook_deliveries_pending_order;
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (endpoint_id, event_cursor) WHERE state = 'pending' AND created_at >= 0;
-- Room on each page for the leased versions of its rows (pages written from now on).
ALTER TABLE webhook_deliveries SET (fillfactor = 70);
