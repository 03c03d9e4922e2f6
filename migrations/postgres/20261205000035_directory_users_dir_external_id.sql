-- A lookup by externalId reads its entries already in id order. Without the id in the key,
-- SQLite would rather walk the whole directory in id order (the index of 20261205000033) than
-- sort one row (tests/api/query_plans.rs). directory_users_external (directory_id, external_id)
-- is now redundant: dropped in a later release, once no node of this one's predecessor runs.
CREATE INDEX directory_users_dir_external_id ON directory_users (directory_id, external_id, id);
