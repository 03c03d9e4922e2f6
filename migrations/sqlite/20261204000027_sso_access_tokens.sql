-- Access tokens of the WorkOS-compatible `POST /sso/token`: what `GET /sso/profile` redeems.
-- Stored hashed with the profile they show. A token reads nothing once its member is suspended
-- or removed (its tokens are deleted then), its connection is not active, or the API key that
-- redeemed the code is revoked. They last 10 minutes and are purged after.
CREATE TABLE sso_access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sso_access_tokens_expiry ON sso_access_tokens (expires_at);
CREATE INDEX sso_access_tokens_membership ON sso_access_tokens (membership_id);
