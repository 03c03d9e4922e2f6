-- SSO part 1: connections, users keyed by (connection, IdP subject), memberships with provenance,
-- pending sign-ins, one-time codes, the vendor redirect allow-list and sign-in attempts.
CREATE TABLE connections (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    idp TEXT NOT NULL,
    oidc_issuer TEXT,
    oidc_client_id TEXT,
    oidc_client_secret_enc TEXT,
    last_test_at BIGINT,
    last_test_ok BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX connections_org ON connections (organization_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_org_email ON users (organization_id, email);

CREATE TABLE user_identities (
    connection_id TEXT NOT NULL REFERENCES connections (id),
    idp_subject TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    email TEXT NOT NULL,
    raw_attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, idp_subject)
);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, user_id)
);

-- How each membership and its role came to be, as history.
CREATE TABLE membership_grants (
    id TEXT PRIMARY KEY NOT NULL,
    membership_id TEXT NOT NULL REFERENCES memberships (id),
    organization_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX membership_grants_membership ON membership_grants (membership_id, created_at);

CREATE TABLE sso_requests (
    state_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    redirect_uri TEXT,
    client_state TEXT,
    nonce TEXT NOT NULL,
    pkce_verifier_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE sso_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE redirect_uris (
    uri TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    evidence TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX login_attempts_conn ON login_attempts (connection_id, created_at);
