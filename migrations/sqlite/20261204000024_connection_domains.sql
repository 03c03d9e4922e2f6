-- Several IdPs per organization: the verified domains of its organization a connection may sign
-- people in for, as a JSON array of domain names; NULL (the default) means every verified
-- domain, which is how every connection behaved before. Expand only: an older node ignores it.
ALTER TABLE connections ADD COLUMN domains TEXT;
