-- Issue 17: on PostgreSQL every foreign-key column takes the collation of the id it references
-- (COLLATE "C"), so that joins from a row to its dependants can use the foreign key's index.
-- SQLite compares text bytewise (BINARY) on both sides already: nothing to change here; the file
-- keeps the two folders in step (migrations/README.md).
SELECT 1;
