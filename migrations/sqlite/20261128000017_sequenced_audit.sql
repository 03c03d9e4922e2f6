-- Audited writes no longer lock a chain head or the feed's head until they commit (issue 17).
-- On PostgreSQL a transaction writes its audit events and feed events waiting (negative
-- chain_seq and cursor) and a sequencer links and numbers them once committed; this index finds
-- them. SQLite, with one writer, still links and numbers in the transaction: the index stays
-- empty here and exists so that both folders build the same schema.
CREATE INDEX audit_events_waiting ON audit_events (chain_seq) WHERE chain_seq < 0;
-- The audit outbox is no longer written (nothing read it); the table goes in a later release,
-- once no node of the previous one writes it (migrations/README.md, expand then contract).
