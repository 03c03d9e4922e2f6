-- The vendor's events feed: every audit event that concerns the vendor, numbered by a global
-- cursor in commit order (assigned under the events_head row lock, so a reader that sees cursor N
-- has every cursor below N) and by a sequence per entity.
CREATE TABLE events (
    cursor BIGINT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    audit_event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    organization_id TEXT,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    entity_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_org ON events (organization_id, cursor);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE events_head (
    k TEXT PRIMARY KEY NOT NULL,
    cursor BIGINT NOT NULL
);
INSERT INTO events_head (k, cursor) VALUES ('global', 0);

CREATE TABLE event_entity_seqs (
    entity_key TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL
);
