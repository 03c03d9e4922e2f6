-- SSO part 2: SAML settings on connections, the pinned IdP signing certificates (several at once
-- for rotation) and the persistent assertion replay cache. A SAML pending sign-in reuses
-- sso_requests: RelayState is the state, and the AuthnRequest ID is kept in the nonce column.
ALTER TABLE connections ADD COLUMN saml_idp_entity_id TEXT;
ALTER TABLE connections ADD COLUMN saml_idp_sso_url TEXT;
ALTER TABLE connections ADD COLUMN saml_idp_metadata_url TEXT;
ALTER TABLE connections ADD COLUMN saml_allow_idp_initiated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN attribute_mapping TEXT;

CREATE TABLE saml_certificates (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    connection_id TEXT NOT NULL REFERENCES connections (id),
    der_b64 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    -- The smallest expiry warning already sent (30, 14 or 7 days).
    warned_days BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (connection_id, fingerprint)
);
CREATE INDEX saml_certificates_expiry ON saml_certificates (not_after);

CREATE TABLE saml_assertions (
    connection_id TEXT COLLATE "C" NOT NULL,
    assertion_id TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at);
