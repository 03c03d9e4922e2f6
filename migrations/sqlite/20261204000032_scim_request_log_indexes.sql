-- The directories page lists a directory's newest SCIM requests (ORDER BY id DESC, all or only
-- errors): each now walks an index instead of reading every stored request with its bodies.
CREATE INDEX scim_requests_dir_id ON scim_requests (directory_id, id);
CREATE INDEX scim_requests_dir_errors_id ON scim_requests (directory_id, id) WHERE status >= 400;
