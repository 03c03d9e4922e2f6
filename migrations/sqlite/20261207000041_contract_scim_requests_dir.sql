-- Issue 17, the contract of 20261207000040: scim_requests_dir (directory_id, created_at) is a
-- prefix of scim_requests_dir_day (directory_id, created_at, status), which serves every query
-- it served; it cost a write on every logged SCIM request.
DROP INDEX IF EXISTS scim_requests_dir;
-- SQLite only (PostgreSQL has no row ids): event_entity_seqs is read and written by its key
-- alone, so as a WITHOUT ROWID table it is one b-tree instead of a table and its key's index:
-- a new entity's counter is one b-tree insert instead of two, an update one lookup instead of
-- two. Copied in key order, so that the new b-tree's pages are filled.
CREATE TABLE event_entity_seqs_by_key (
    entity_key TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO event_entity_seqs_by_key (entity_key, seq)
    SELECT entity_key, seq FROM event_entity_seqs ORDER BY entity_key;
DROP TABLE event_entity_seqs;
ALTER TABLE event_entity_seqs_by_key RENAME TO event_entity_seqs;
