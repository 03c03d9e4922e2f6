-- Lanyard as an OpenID Provider (issue 18): the vendor's OAuth clients and Lanyard's own
-- signing keys. A pending sign-in and its code carry the client's request (JSON in `oauth`); a
-- code with `oauth` set is redeemed only at /oauth2/token, one without only by the vendor API.
CREATE TABLE oauth_clients (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- JSON arrays of exact URIs.
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    -- JSON array of organization ids; NULL = every organization.
    allowed_organizations TEXT,
    -- client_secret_basic | client_secret_post | none (public client, PKCE required).
    token_endpoint_auth_method TEXT NOT NULL,
    secret_hash TEXT,
    secret_hint TEXT,
    -- When the current secret was issued (creation or the last rotation).
    secret_created_at BIGINT,
    -- The secret before the last rotation, accepted until previous_secret_expires_at.
    previous_secret_hash TEXT,
    previous_secret_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    -- PKCS#8 PEM, sealed with LANYARD_SECRET_KEY.
    private_key_enc TEXT NOT NULL,
    -- The public JWK (JSON).
    public_jwk TEXT NOT NULL,
    -- next (published, not signing) | active (signs) | retired (published until expires_at).
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX signing_keys_state ON signing_keys (state);

ALTER TABLE sso_requests ADD COLUMN oauth TEXT;
ALTER TABLE sso_codes ADD COLUMN oauth TEXT;

-- The W3C traceparent of the request that started the sign-in, so its callback and the code's
-- redemption continue one trace (set only when traces are exported).
ALTER TABLE sso_requests ADD COLUMN traceparent TEXT;
ALTER TABLE sso_codes ADD COLUMN traceparent TEXT;
