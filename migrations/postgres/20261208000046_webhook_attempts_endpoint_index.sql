-- Issue 17 (expand, after 20261208000045): the index of attempts by endpoint. Partial, so old
-- rows (no endpoint) add no entries, but the build still reads the whole table: it holds
-- webhook_attempts' share lock meanwhile, which blocks attempt writes (a worker's outcomes wait),
-- not reads (helper-80 measured 34 ms at 40,000 attempts; about linear). Waits at most 5 s for
-- the lock and then fails this start, which is retried.
SET LOCAL lock_timeout = '5s';
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at) WHERE endpoint_id IS NOT NULL;
