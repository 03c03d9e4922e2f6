-- Domain verification: one row per claim of a domain by an organization.
CREATE TABLE domains (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    domain TEXT NOT NULL,
    state TEXT NOT NULL,
    include_subdomains BIGINT NOT NULL DEFAULT 0,
    record_name TEXT NOT NULL,
    record_value TEXT NOT NULL,
    verified_by TEXT,
    verified_at BIGINT,
    last_proved_at BIGINT,
    last_checked_at BIGINT,
    last_result TEXT,
    missing_since BIGINT,
    check_failures BIGINT NOT NULL DEFAULT 0,
    next_check_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
-- At most one organization holds a domain as verified.
CREATE UNIQUE INDEX domains_one_verified_owner ON domains (domain) WHERE state = 'verified' AND deleted_at IS NULL;
-- One live claim per organization and domain.
CREATE UNIQUE INDEX domains_org_domain ON domains (organization_id, domain) WHERE deleted_at IS NULL;
CREATE INDEX domains_due ON domains (next_check_at) WHERE deleted_at IS NULL;
