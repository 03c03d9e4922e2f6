-- The resource an event is about, as it was when the event was recorded (JSON, written in the
-- event's transaction): a deleted directory user is still readable in its `dsync.user.deleted`
-- event, and an update carries the state before it. NULL for event types without one and for
-- events recorded before this migration.
ALTER TABLE events ADD COLUMN snapshot TEXT;
-- Reads of the feed filtered by type (`/events?events=…`, `/api/v1/events?types=…`) walk this
-- index instead of every event after the cursor.
CREATE INDEX events_type_cursor ON events (type, cursor);
