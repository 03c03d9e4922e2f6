-- Issue 17, the contract of 20261207000042 (which landed in the release before this one): no
-- statement of that release or this one needs these three indexes. A lease walks
-- webhook_deliveries_pending_walk and probes webhook_deliveries_pending_heads; outcomes update
-- by key; the backlog gauge reads a pending-only index. Two of them name next_attempt_at (the
-- key of _due, the predicate of migration 37's _pending_order), which every lease changes, so
-- while they stood no lease could be a heap-only update on PostgreSQL; _entity (endpoint_id,
-- entity_key, event_cursor) over every delivery is served by _pending_heads for pending ones.
-- DROP INDEX takes webhook_deliveries' exclusive lock (migrations/README.md: a contract step):
-- it waits at most 5 s for it (behind, say, a node's lease) and then fails this start, which
-- is retried, instead of holding every fan-out and lease queued behind it.
SET LOCAL lock_timeout = '5s';
DROP INDEX IF EXISTS webhook_deliveries_due;
DROP INDEX IF EXISTS webhook_deliveries_entity;
DROP INDEX IF EXISTS webhook_deliveries_pending_order;
