-- Members, roles and invitations: custom roles, invitations with single-use hashed tokens
-- (a resend replaces the token), a mail outbox with retries, last sign-in per membership and
-- the admin's email on setup links (who invited whom).
CREATE TABLE roles (
    slug TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    inviter_kind TEXT NOT NULL,
    inviter_id TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    redirect_uri TEXT,
    expires_at BIGINT NOT NULL,
    lifetime_ms BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at BIGINT,
    membership_id TEXT
);
CREATE INDEX invitations_org ON invitations (organization_id, created_at);
-- At most one pending invitation per address per organization.
CREATE UNIQUE INDEX invitations_pending_email ON invitations (organization_id, email) WHERE state = 'pending';

CREATE TABLE invitation_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    invitation_id TEXT NOT NULL REFERENCES invitations (id),
    created_at BIGINT NOT NULL,
    replaced_at BIGINT
);
CREATE INDEX invitation_tokens_invitation ON invitation_tokens (invitation_id);

-- Outgoing mail. Bodies are sealed with the server key (they carry one-time links) and wiped
-- once sent.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT,
    invitation_id TEXT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_enc TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    sent_at BIGINT,
    failed_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_invitation ON mail_outbox (invitation_id, created_at);

ALTER TABLE memberships ADD COLUMN last_sign_in_at BIGINT;
ALTER TABLE setup_links ADD COLUMN admin_email TEXT;
ALTER TABLE sso_requests ADD COLUMN invitation_id TEXT;
-- The invitation link that started an SSO acceptance (it must still be live at the end).
ALTER TABLE sso_requests ADD COLUMN invitation_token_hash TEXT;
