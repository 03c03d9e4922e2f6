-- SCIM list pages walk a directory's users and groups in id order (ORDER BY id LIMIT/OFFSET):
-- without these each page read every row of the directory and sorted them.
CREATE INDEX directory_users_dir_id ON directory_users (directory_id, id);
CREATE INDEX directory_groups_dir_id ON directory_groups (directory_id, id);
-- A lookup by an `eq` reads its few entries already in id order. Without the id in the key
-- SQLite would rather walk the whole directory in id order than sort one row, now that the
-- indexes above exist (tests/api/query_plans.rs checks both).
DROP INDEX directory_users_external;
CREATE INDEX directory_users_external ON directory_users (directory_id, external_id, id);
-- displayName is compared without regard to case (Entra and Okta look a group up by it before
-- creating one).
CREATE INDEX directory_groups_dir_lower_name ON directory_groups (directory_id, LOWER(display_name), id);
