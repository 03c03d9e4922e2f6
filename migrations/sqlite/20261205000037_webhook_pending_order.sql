-- An endpoint's pending deliveries in feed order, for leasing (db::webhooks::lease_sql): the
-- lease walks them from the oldest and stops at its limit, instead of walking the endpoint's
-- whole delivery history (the unique (endpoint_id, event_cursor) index) or reading every
-- pending delivery and sorting them. The per-entity head probe keeps
-- webhook_deliveries_pending_heads, which matches both of its equalities.
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (endpoint_id, event_cursor) WHERE state = 'pending';
