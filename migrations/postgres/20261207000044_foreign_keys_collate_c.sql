-- Issue 17: every foreign-key column takes the collation of the id it references (COLLATE "C",
-- byte order, as every id column has had since the first migration). These 27 columns had the
-- database's default collation. PostgreSQL compares text under one collation, and in a join
-- `m.user_id = u.id` the id's "C" wins, so an index of the foreign-key column (built under the
-- default collation) could not serve it: joins from a row to its dependants read the whole table
-- or the organization's part of it instead of probing the index. Measured on an analyzed
-- database with a 100,000-member organization (session 43's survey): the SCIM create's read of
-- an address that is already a member, 3,060 buffers / 35 ms against 15 / 0.15 ms; the minute's
-- due removals with 200 due, 826k buffers / 3.4 s against 4.3k / 29 ms; an SSO sign-in's
-- identity read, 79 ms against 0.08 ms.
-- Same rows either way: both collations are deterministic, so text equality is byte equality
-- under both (the argument of PostgreSQL's own ri_triggers.c). The old release's statements run
-- unchanged (a "C" column compared with a default-collation value takes "C").
-- No table is rewritten (same type), but each index on these columns is rebuilt, under the
-- table's exclusive lock, for as long as the rebuild takes; the foreign keys are kept without a
-- re-check. On a deployment with very large tables, run it in a quiet hour. The lock waits at
-- most 5 s (behind a long transaction) and then fails this start, which is retried.
-- SQLite compares ids bytewise already (BINARY): its file of this name changes nothing.
SET LOCAL lock_timeout = '5s';
ALTER TABLE connections ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE directories ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE directory_groups ALTER COLUMN directory_id TYPE TEXT COLLATE "C";
ALTER TABLE directory_tokens ALTER COLUMN directory_id TYPE TEXT COLLATE "C";
ALTER TABLE directory_users ALTER COLUMN directory_id TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE domains ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE invitation_tokens ALTER COLUMN invitation_id TYPE TEXT COLLATE "C";
ALTER TABLE invitations ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE membership_grants ALTER COLUMN membership_id TYPE TEXT COLLATE "C";
ALTER TABLE memberships ALTER COLUMN organization_id TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE outbox ALTER COLUMN audit_event_id TYPE TEXT COLLATE "C";
ALTER TABLE saml_certificates ALTER COLUMN connection_id TYPE TEXT COLLATE "C", ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE saml_metadata_refresh ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE saml_sp_keys ALTER COLUMN connection_id TYPE TEXT COLLATE "C", ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE setup_links ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE sso_sessions ALTER COLUMN connection_id TYPE TEXT COLLATE "C", ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE staff_setup_tokens ALTER COLUMN staff_id TYPE TEXT COLLATE "C";
ALTER TABLE user_identities ALTER COLUMN connection_id TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN organization_id TYPE TEXT COLLATE "C";
ALTER TABLE webhook_attempts ALTER COLUMN delivery_id TYPE TEXT COLLATE "C";
ALTER TABLE webhook_deliveries ALTER COLUMN endpoint_id TYPE TEXT COLLATE "C";
