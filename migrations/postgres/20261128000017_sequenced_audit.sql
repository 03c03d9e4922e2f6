-- Audited writes no longer lock a chain head or the feed's head until they commit (issue 17).
-- On PostgreSQL a transaction writes its audit events and feed events waiting: chain_seq and
-- cursor hold minus a number from these sequences (their place in the write order); the
-- sequencer links the events into their chains and gives the feed events their cursors once
-- committed, in commit order (src/server/audit.rs `sequence`). Readers only ever look at
-- positive positions. SQLite, with one writer, still links and numbers in the transaction.
CREATE SEQUENCE audit_events_pending;
CREATE SEQUENCE events_pending;
CREATE INDEX audit_events_waiting ON audit_events (chain_seq) WHERE chain_seq < 0;
-- The audit outbox is no longer written (nothing read it); the table goes in a later release,
-- once no node of the previous one writes it (migrations/README.md, expand then contract).
