-- Issue 17, the contract of 20261207000042 (which landed in the release before this one): no
-- statement of that release or this one needs these three indexes. A lease walks
-- webhook_deliveries_pending_walk and probes webhook_deliveries_pending_heads; outcomes update
-- by key; the backlog gauge reads a pending-only index. Each cost a write on every fan-out, and
-- _due and migration 37's _pending_order one more on every lease (both name next_attempt_at).
DROP INDEX IF EXISTS webhook_deliveries_due;
DROP INDEX IF EXISTS webhook_deliveries_entity;
DROP INDEX IF EXISTS webhook_deliveries_pending_order;
