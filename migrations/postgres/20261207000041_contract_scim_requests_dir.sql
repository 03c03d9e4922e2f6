-- Issue 17, the contract of 20261207000040: scim_requests_dir (directory_id, created_at) is a
-- prefix of scim_requests_dir_day (directory_id, created_at, status), which serves every query
-- it served; it cost a write on every logged SCIM request. No query names it, and the request
-- log's purge (created_at alone) could not use it.
-- DROP INDEX takes scim_requests' exclusive lock (migrations/README.md: a contract step). 40
-- and 41 landed the same day with no release between them; on a deployment where a node of an
-- older release still runs, the drop waits at most 5 s for the lock (behind, say, the purge's
-- DELETE) and then fails this start, which is retried, instead of holding every request-log
-- write queued behind it. (The SQLite file of this release also rebuilds event_entity_seqs
-- without row ids, which PostgreSQL does not have.)
SET LOCAL lock_timeout = '5s';
DROP INDEX IF EXISTS scim_requests_dir;
