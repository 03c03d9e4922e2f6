-- The console's deliveries-per-day chart reaches an organization's deliveries from its events
-- (events_org) by event cursor; without this index that join reads every delivery.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_cursor);
