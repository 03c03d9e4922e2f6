-- Directory sync: SCIM directories with rotating bearer tokens, the users and groups the
-- customer's IdP pushes, group-to-role mappings, and a log of every SCIM request.
CREATE TABLE directories (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    authoritative BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX directories_org ON directories (organization_id);

-- Bearer tokens (hashes). A rotated-out token keeps working until expires_at.
CREATE TABLE directory_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    directory_id TEXT NOT NULL REFERENCES directories (id),
    organization_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX directory_tokens_dir ON directory_tokens (directory_id);

CREATE TABLE directory_users (
    id TEXT PRIMARY KEY NOT NULL,
    directory_id TEXT NOT NULL REFERENCES directories (id),
    organization_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id TEXT,
    email TEXT,
    display_name TEXT,
    active BIGINT NOT NULL,
    resource TEXT NOT NULL,
    user_id TEXT REFERENCES users (id),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (directory_id, user_name_key)
);
CREATE INDEX directory_users_external ON directory_users (directory_id, external_id);
CREATE INDEX directory_users_email ON directory_users (organization_id, email);
CREATE INDEX directory_users_user ON directory_users (user_id);

CREATE TABLE directory_groups (
    id TEXT PRIMARY KEY NOT NULL,
    directory_id TEXT NOT NULL REFERENCES directories (id),
    organization_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    external_id TEXT,
    resource TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX directory_groups_dir ON directory_groups (directory_id, display_name);

CREATE TABLE directory_group_members (
    group_id TEXT NOT NULL REFERENCES directory_groups (id),
    user_id TEXT NOT NULL REFERENCES directory_users (id),
    directory_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX directory_group_members_user ON directory_group_members (user_id);

-- Directory group → role, highest priority wins.
CREATE TABLE group_role_mappings (
    group_id TEXT PRIMARY KEY NOT NULL REFERENCES directory_groups (id),
    directory_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    role TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX group_role_mappings_dir ON group_role_mappings (directory_id);

-- Every SCIM request and response, bodies redacted of secrets and cut to a bounded size.
CREATE TABLE scim_requests (
    id TEXT PRIMARY KEY NOT NULL,
    directory_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    scim_type TEXT,
    request_body TEXT,
    response_body TEXT,
    duration_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scim_requests_dir ON scim_requests (directory_id, created_at);

-- One user per email per organization: a directory push and a JIT sign-in of the same person
-- racing each other cannot create two.
CREATE UNIQUE INDEX users_org_email_unique ON users (organization_id, email);

-- A membership a directory manages (its role comes from the directory's groups).
ALTER TABLE memberships ADD COLUMN directory_id TEXT;
ALTER TABLE memberships ADD COLUMN role_group_id TEXT;
-- Lets a suspension void the member's unredeemed sign-in codes.
ALTER TABLE sso_codes ADD COLUMN membership_id TEXT;
CREATE INDEX sso_codes_membership ON sso_codes (membership_id);
