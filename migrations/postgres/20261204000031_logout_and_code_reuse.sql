-- WorkOS's POST /sso/logout/authorize names a person (the profile's id): their newest open SSO
-- session is found through their membership.
CREATE INDEX sso_sessions_membership ON sso_sessions (membership_id, id);

-- The code an access token of the WorkOS-compatible /sso/token was issued for: a second
-- redemption of that code revokes it (RFC 6749 §4.1.2). Tokens issued before have none.
ALTER TABLE sso_access_tokens ADD COLUMN code_hash TEXT;
CREATE INDEX sso_access_tokens_code ON sso_access_tokens (code_hash);
