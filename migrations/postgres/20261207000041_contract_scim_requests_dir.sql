-- Issue 17, the contract release of 20261207000040: scim_requests_dir (directory_id,
-- created_at) is a prefix of scim_requests_dir_day (directory_id, created_at, status), which
-- serves every query it served; it cost a write on every logged SCIM request. DROP INDEX takes
-- scim_requests' exclusive lock for a moment: a release of its own, after the one that added
-- scim_requests_dir_day (migrations/README.md). (The SQLite file of this release also rebuilds
-- event_entity_seqs without row ids, which PostgreSQL does not have.)
DROP INDEX IF EXISTS scim_requests_dir;
