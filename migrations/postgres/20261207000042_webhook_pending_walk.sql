-- Issue 17, expand: a lease (db::webhooks::lease_sql) changes only `next_attempt_at`. Once no
-- index names that column, in its key or its predicate, PostgreSQL can make the update on the
-- row's own page (a heap-only tuple: no new entry in any of the table's indexes) instead of
-- writing a new entry into each of them. This release adds the lease's walk without it; a later
-- contract release drops what names it (webhook_deliveries_due, migration 37's
-- webhook_deliveries_pending_order) and webhook_deliveries_entity, which no statement needs,
-- once no node of an older release leases through them (migrations/README.md).
-- An endpoint's pending deliveries in feed order, as migration 37's index, with `created_at >= 0`
-- (always true: the fan-out writes the time in epoch milliseconds and nothing changes it) in
-- place of `next_attempt_at IS NOT NULL`. The lease's scan states it (db::webhooks::due); the
-- per-entity head probe does not, so the probe cannot walk this index (on a new, unanalyzed
-- table PostgreSQL would otherwise walk it for the probe, filtering by entity: 592 rows read to
-- lease 32 of 3,000, tests/api/query_plans.rs) and stays on webhook_deliveries_pending_heads.
-- The build reads the table once and blocks its writes meanwhile (it holds pending rows only).
-- On a large table an operator may build it beforehand, outside any transaction, with the same
-- statement and CONCURRENTLY; IF NOT EXISTS then makes this step a no-op.
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_walk ON webhook_deliveries (endpoint_id, event_cursor) WHERE state = 'pending' AND created_at >= 0;
-- Room on each page for the leased versions of its rows (pages written from now on).
ALTER TABLE webhook_deliveries SET (fillfactor = 70);
