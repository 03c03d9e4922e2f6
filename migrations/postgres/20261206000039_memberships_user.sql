-- Issue 17: memberships by user. A user belongs to one organization, so the key finds one row.
-- Read by the WorkOS directory-user list (memberships of a page of users, any organization: a
-- scan of every membership before) and by a directory's reads of its members' memberships,
-- which now find them by user and check the organization on each row (db::row_check): through
-- the (organization_id, user_id) key PostgreSQL, before the table was analyzed, walked every
-- membership of the organization to find 100 of them (up to 20 ms in a 100-member PATCH).
CREATE INDEX memberships_user ON memberships (user_id);
