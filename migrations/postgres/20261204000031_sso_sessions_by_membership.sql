-- WorkOS's POST /sso/logout/authorize names a person (the profile's id): their newest open SSO
-- session is found through their membership.
CREATE INDEX sso_sessions_membership ON sso_sessions (membership_id, id);
