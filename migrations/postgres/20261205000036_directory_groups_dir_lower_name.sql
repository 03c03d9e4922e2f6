-- displayName is compared without regard to case (Entra and Okta look a group up by it before
-- creating one).
CREATE INDEX directory_groups_dir_lower_name ON directory_groups (directory_id, LOWER(display_name), id);
