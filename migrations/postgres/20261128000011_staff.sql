-- Staff accounts of the vendor's support console: password (Argon2id PHC string) plus a TOTP
-- second factor whose secret is sealed with the server key. An account is created pending with a
-- one-time setup link (token stored as a SHA-256 hash) and becomes active when its owner sets a
-- password and proves the authenticator works.
CREATE TABLE staff (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    -- Stored lower-cased.
    email TEXT NOT NULL UNIQUE,
    -- viewer | admin
    role TEXT NOT NULL,
    -- pending | active | disabled
    state TEXT NOT NULL,
    password_hash TEXT,
    totp_secret_enc TEXT NOT NULL,
    -- The last TOTP time step accepted: a code of that step or an earlier one is a replay.
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_sign_in_at BIGINT
);

CREATE TABLE staff_setup_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX staff_setup_tokens_staff ON staff_setup_tokens (staff_id);
