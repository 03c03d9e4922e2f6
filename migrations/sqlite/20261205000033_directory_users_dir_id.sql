-- SCIM list pages walk a directory's users in id order (ORDER BY id LIMIT/OFFSET): without this
-- each page read every user of the directory and sorted them. One index per file: on PostgreSQL
-- it is built CONCURRENTLY (outside a transaction), so nodes still running the previous release
-- keep reading and writing the table meanwhile.
CREATE INDEX directory_users_dir_id ON directory_users (directory_id, id);
