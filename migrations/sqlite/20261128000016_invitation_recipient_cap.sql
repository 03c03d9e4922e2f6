-- The per-address invitation mail cap counts an organization's mails to one address in the
-- last hour (revoked and re-created invitations included).
CREATE INDEX mail_outbox_recipient ON mail_outbox (organization_id, recipient, created_at);
