-- Audit retention per organization, and the checkpoint a purge leaves so the rest of the chain
-- stays verifiable: the sequence number and hash of the last purged event.
ALTER TABLE organizations ADD COLUMN audit_retention_days BIGINT NOT NULL DEFAULT 365;
CREATE TABLE audit_checkpoints (
    chain_key TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    purged_at BIGINT NOT NULL
);
