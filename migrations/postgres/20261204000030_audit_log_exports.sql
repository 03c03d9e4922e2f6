-- Exports of an organization's audit trail made through WorkOS's POST /audit_logs/exports: what
-- was asked (time range and filters, JSON), so GET /audit_logs/exports/{id} answers the same
-- export with a fresh signed download link.
CREATE TABLE audit_log_exports (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    range_start BIGINT NOT NULL,
    range_end BIGINT NOT NULL,
    filter TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
