-- Single logout and the HTTP-POST binding for AuthnRequests. A SAML connection can turn it on (its SP metadata then publishes a
-- SingleLogoutService) and names the IdP's HTTP-Redirect SingleLogoutService. Every sign-in
-- through a connection keeps an SSO session: the subject and SessionIndex the IdP asserted, so
-- a logout in either direction names the same session. Expand only: an older node ignores the
-- new columns and tables.
ALTER TABLE connections ADD COLUMN saml_single_logout BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN saml_idp_slo_url TEXT;
-- How AuthnRequests travel: redirect (HTTP-Redirect, signed over the query) or post (HTTP-POST,
-- an enveloped signature), to the IdP's SingleSignOnService of that binding.
ALTER TABLE connections ADD COLUMN saml_authn_request_binding TEXT NOT NULL DEFAULT 'redirect';
ALTER TABLE connections ADD COLUMN saml_idp_sso_post_url TEXT;
-- WantAssertionsSigned: the Assertion itself must carry the IdP's signature (a signature on the
-- Response alone is refused).
ALTER TABLE connections ADD COLUMN saml_want_assertions_signed BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sso_sessions (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    connection_id TEXT NOT NULL REFERENCES connections (id),
    membership_id TEXT,
    -- oidc or saml
    protocol TEXT NOT NULL,
    -- The NameID (SAML) or sub (OIDC) the IdP asserted, exactly.
    subject TEXT NOT NULL,
    name_id_format TEXT,
    session_index TEXT,
    created_at BIGINT NOT NULL,
    -- Kept until then for a logout to find; purged after.
    expires_at BIGINT NOT NULL,
    ended_at BIGINT,
    -- vendor (SP-initiated) or idp (the IdP's LogoutRequest)
    ended_by TEXT
);
CREATE INDEX sso_sessions_subject ON sso_sessions (connection_id, subject);
CREATE INDEX sso_sessions_expiry ON sso_sessions (expires_at);

-- A logout Lanyard started at the IdP, waiting for the IdP's answer (by RelayState or state).
CREATE TABLE sso_logouts (
    state_hash TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    -- The LogoutRequest ID the LogoutResponse must answer (empty for OIDC).
    request_id TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_logouts_expiry ON sso_logouts (expires_at);

-- OIDC connections' discovery and JWKS are refreshed on the same schedule as SAML metadata: the
-- key ids last seen, so a change of the IdP's signing keys is audited.
ALTER TABLE saml_metadata_refresh ADD COLUMN jwks_keys TEXT;
