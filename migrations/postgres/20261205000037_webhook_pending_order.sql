-- An endpoint's pending deliveries in feed order, for leasing (db::webhooks::lease_sql): the
-- lease walks them from the oldest and stops at its limit, instead of reading every pending
-- delivery of the endpoint and sorting them (15.9 ms per lease at 3,000 pending, 1.1 ms with
-- this index). `next_attempt_at IS NOT NULL` (always true) keeps the per-entity head probe on
-- webhook_deliveries_pending_heads: that probe has no condition on next_attempt_at, so only the
-- lease's own scan (`next_attempt_at + 0 <= $2`, which implies it) can use this index.
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (endpoint_id, event_cursor) WHERE state = 'pending' AND next_attempt_at IS NOT NULL;
