-- Role given to members who join by JIT provisioning.
ALTER TABLE organizations ADD COLUMN default_role TEXT NOT NULL DEFAULT 'member';
