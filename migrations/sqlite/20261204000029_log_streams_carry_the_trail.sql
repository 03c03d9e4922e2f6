-- Log streams carry their organization's audit trail (every event of it, including what the
-- vendor's product reports through POST /audit_logs/events), no longer the vendor's feed: a
-- stream's position (fanout_cursor) and its deliveries' event_cursor become positions in the
-- organization's chain (audit_events.chain_seq), and a delivery's event_id the audit event's id.
--
-- RELEASE NOTE: on several PostgreSQL nodes, stop every node of the previous release before this
-- release starts (no rolling upgrade across this migration): an older node would read the
-- converted positions as feed cursors and deliver log streams from the wrong place.
--
-- A stream goes on after the last of its organization's feed events it had queued; events of the
-- trail the feed never carried (portal.*) between that point and now are delivered once.
UPDATE webhook_endpoints SET fanout_cursor = COALESCE((
    SELECT MAX(a.chain_seq) FROM events e JOIN audit_events a ON a.id = e.audit_event_id
    WHERE e.organization_id = webhook_endpoints.organization_id
      AND e.cursor > 0 AND e.cursor <= webhook_endpoints.fanout_cursor AND a.chain_seq > 0
), 0)
WHERE organization_id IS NOT NULL;

-- Two steps, so that no converted position meets an unconverted one of the same stream
-- (UNIQUE (endpoint_id, event_cursor)). A delivery whose event is no longer kept keeps a
-- negative position: it is reported as no longer kept, as before.
UPDATE webhook_deliveries SET event_cursor = -event_cursor
WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE organization_id IS NOT NULL);

UPDATE webhook_deliveries SET
    event_cursor = COALESCE((
        SELECT a.chain_seq FROM events e JOIN audit_events a ON a.id = e.audit_event_id
        WHERE e.cursor = -webhook_deliveries.event_cursor AND a.chain_seq > 0
    ), webhook_deliveries.event_cursor),
    event_id = COALESCE((
        SELECT e.audit_event_id FROM events e WHERE e.cursor = -webhook_deliveries.event_cursor
    ), webhook_deliveries.event_id)
WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE organization_id IS NOT NULL);
