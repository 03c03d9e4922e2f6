-- IdP metadata refresh: a SAML connection set up from a metadata URL is fetched again on a
-- schedule (and on demand). A certificate the IdP adds is pinned at once; one it drops keeps
-- verifying until retire_after (an overlap), then stops and is removed. Expand only: an older
-- node ignores the new column and table (its ACS would still trust a retiring certificate past
-- its overlap until the newer node removes it).
ALTER TABLE saml_certificates ADD COLUMN retire_after BIGINT;

-- One row per connection whose metadata has been fetched (or leased for a fetch).
CREATE TABLE saml_metadata_refresh (
    connection_id TEXT PRIMARY KEY NOT NULL REFERENCES connections (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    -- The last successful fetch, the last failed one and its message (cleared by a success).
    refreshed_at BIGINT,
    failed_at BIGINT,
    error TEXT,
    -- When the next fetch is due; a node leases the row by moving it forward.
    next_at BIGINT NOT NULL
);
