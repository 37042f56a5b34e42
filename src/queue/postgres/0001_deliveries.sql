-- One row per accepted webhook, from acceptance to delivered or dead; shared by every replica.
CREATE TABLE deliveries (
    id                  uuid PRIMARY KEY,       -- UUIDv7: sorts by arrival
    idempotency_key     text NOT NULL UNIQUE,   -- source + event id, or source + body hash
    source              text NOT NULL,
    event_id            text,
    conversation_id     text NOT NULL,
    participant_id      text,                   -- as the payload named it; NULL = chosen by purpose
    target              text NOT NULL,          -- one FIFO per participant: "conversation/participant" or "conversation/*"
    attributes          text NOT NULL,          -- JSON object of strings, as the delivery sends it
    status              text NOT NULL CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts            bigint NOT NULL DEFAULT 0,
    run_at              bigint NOT NULL,        -- unix ms: not before
    lease_until         bigint,                 -- unix ms, while in_flight
    received_at         bigint NOT NULL,
    updated_at          bigint NOT NULL,
    finished_at         bigint,
    delivered_to        text,                   -- the participant written
    last_error          text,
    last_status         bigint,
    last_code           text,
    last_correlation_id text,
    dead_reason         text
);

-- Partial indexes: only the rows the workers and operators look for, so they stay as small as
-- the backlog.
CREATE INDEX deliveries_active ON deliveries (target, id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_due ON deliveries (run_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_dead ON deliveries (id) WHERE status = 'dead';
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE status IN ('delivered', 'dead');

-- Per participant and key, the newest delivered job that wrote it: an older job (a replay, a
-- retry that lost its place) never overwrites a newer value.
CREATE TABLE target_keys (
    target      text NOT NULL,
    key         text NOT NULL,
    delivery_id uuid NOT NULL,
    updated_at  bigint NOT NULL,
    PRIMARY KEY (target, key)
);

-- Signatures (or signed event ids) accepted inside their tolerance window, shared so that a
-- captured signature replayed against another replica is refused too.
CREATE TABLE replay_keys (
    key             text PRIMARY KEY,           -- source + ":" + signature or signed id
    idempotency_key text NOT NULL,              -- the event it was accepted for
    expires_at      bigint NOT NULL             -- unix ms
);

-- When Genesys answered 429: no replica sends before `not_before` (unix ms).
CREATE TABLE genesys_throttle (
    scope       text PRIMARY KEY,               -- the Genesys org's client id: its budget is per token
    not_before  bigint NOT NULL
);
