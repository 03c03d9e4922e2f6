-- A directory's failed SCIM requests, for its health (failures in the last 24 hours, the last
-- failure): read on every portal overview and directories page, which would otherwise visit
-- every logged request of the directory. Partial, so a successful request (nearly all of them)
-- costs no extra index write.
CREATE INDEX scim_requests_errors ON scim_requests (directory_id, created_at) WHERE status >= 400;
