-- Issue 17: an index that another index already covers costs a write on every insert and buys
-- no plan.
-- users_org_email (organization_id, email): the same key as users_org_email_unique.
DROP INDEX IF EXISTS users_org_email;
-- directory_users_external (directory_id, external_id): a prefix of
-- directory_users_dir_external_id (20261205000035), which its queries use since.
DROP INDEX IF EXISTS directory_users_external;
