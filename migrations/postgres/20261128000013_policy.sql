-- Per-organization access policy (JSON, see src/server/service/policy.rs; '{}' means every
-- default), and when a directory-suspended member is due to be removed (policy "remove" with a
-- grace period).
ALTER TABLE organizations ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE memberships ADD COLUMN remove_after BIGINT;
