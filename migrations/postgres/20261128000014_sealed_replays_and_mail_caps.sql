-- Idempotent replays are stored sealed with the server key from now on: drop the responses
-- cached in clear text (they may hold SCIM tokens, setup links, webhook signing secrets). A
-- retry of one of those requests within its 24 h runs again.
DELETE FROM idempotency_keys;

-- Invitation mail caps count an organization's mails of the last hour.
CREATE INDEX mail_outbox_organization ON mail_outbox (organization_id, created_at);
