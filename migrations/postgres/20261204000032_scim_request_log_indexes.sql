-- The directories page lists a directory's newest SCIM requests (ORDER BY id DESC, all or only
-- errors) and counts them per day by status: each now reads an index instead of every stored
-- request with its bodies. (directory_id, created_at, status) replaces (directory_id, created_at).
CREATE INDEX scim_requests_dir_id ON scim_requests (directory_id, id);
CREATE INDEX scim_requests_dir_errors_id ON scim_requests (directory_id, id) WHERE status >= 400;
CREATE INDEX scim_requests_dir_time_status ON scim_requests (directory_id, created_at, status);
DROP INDEX scim_requests_dir;
