-- Access tokens of the WorkOS-compatible `POST /sso/token`: what `GET /sso/profile` redeems.
-- Stored hashed with the profile they show and the membership it belongs to (a suspended or
-- removed member's token reads nothing); they last 10 minutes and are purged after.
CREATE TABLE sso_access_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sso_access_tokens_expiry ON sso_access_tokens (expires_at);
