-- The organization of the portal grant a session holds (filled by the session store from
-- data.portal.organization_id), so that deleting the organization ends its sessions in the same
-- transaction. NULL for staff sessions and empty ones.
ALTER TABLE sessions ADD COLUMN organization_id TEXT;
CREATE INDEX sessions_organization ON sessions (organization_id) WHERE organization_id IS NOT NULL;
