-- Webhooks and log streams: the vendor's endpoints and customers' SIEM streams (secret sealed; the previous one kept during a rotation),
-- one delivery per (endpoint, event), and every attempt.
CREATE TABLE webhook_endpoints (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    -- Set for a customer's log stream (only that organization's events); null for the vendor's
    -- webhooks.
    organization_id TEXT,
    -- webhook | json | splunk_hec | datadog
    kind TEXT NOT NULL,
    name TEXT,
    -- The receiver's credential (Splunk HEC token, Datadog API key), sealed.
    credential_enc TEXT,
    url TEXT NOT NULL,
    events TEXT,
    secret_enc TEXT NOT NULL,
    prev_secret_enc TEXT,
    prev_secret_expires_at BIGINT,
    enabled BIGINT NOT NULL,
    disabled_reason TEXT,
    fanout_cursor BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_cursor BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (endpoint_id, event_cursor)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_entity ON webhook_deliveries (endpoint_id, entity_key, event_cursor);

CREATE TABLE webhook_attempts (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at BIGINT NOT NULL,
    status BIGINT,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
