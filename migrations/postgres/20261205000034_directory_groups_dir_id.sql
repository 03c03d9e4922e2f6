-- no-transaction
-- The same for groups (see 20261205000033).
CREATE INDEX CONCURRENTLY IF NOT EXISTS directory_groups_dir_id ON directory_groups (directory_id, id);
