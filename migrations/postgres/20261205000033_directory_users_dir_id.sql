-- SCIM list pages walk a directory's users in id order (ORDER BY id LIMIT/OFFSET): without this
-- each page read every user of the directory and sorted them. One index per file, no DROP: on
-- PostgreSQL the build blocks writes to the table (not reads) while it runs. Not CONCURRENTLY:
-- it deadlocks with a second node waiting on sqlx's migration lock (seen in CI's two-node run).
CREATE INDEX directory_users_dir_id ON directory_users (directory_id, id);
