-- The same for groups (see 20261205000033).
CREATE INDEX directory_groups_dir_id ON directory_groups (directory_id, id);
