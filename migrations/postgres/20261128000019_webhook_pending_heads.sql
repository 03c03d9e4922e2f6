-- The head of each entity's pending deliveries to an endpoint, probed once per candidate when
-- leasing (db::webhooks::due): only pending rows, so the probe never walks delivered history.
CREATE INDEX webhook_deliveries_pending_heads ON webhook_deliveries (endpoint_id, entity_key, event_cursor) WHERE state = 'pending';
