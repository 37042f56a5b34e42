-- One row per accepted webhook, from acceptance to delivered or dead.
CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,       -- UUIDv7: sorts by arrival
    idempotency_key     TEXT NOT NULL UNIQUE,   -- source + event id, or source + body hash
    source              TEXT NOT NULL,
    event_id            TEXT,
    conversation_id     TEXT NOT NULL,
    participant_id      TEXT,                   -- as the payload named it; NULL = chosen by purpose
    target              TEXT NOT NULL,          -- one FIFO per participant: "conversation/participant" or "conversation/*"
    attributes          TEXT NOT NULL,          -- JSON object of strings
    status              TEXT NOT NULL CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    run_at              INTEGER NOT NULL,       -- unix ms: not before
    lease_until         INTEGER,                -- unix ms, while in_flight
    received_at         INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    delivered_to        TEXT,                   -- the participant written
    last_error          TEXT,
    last_status         INTEGER,
    last_code           TEXT,
    last_correlation_id TEXT,
    dead_reason         TEXT
);

CREATE INDEX deliveries_target ON deliveries (target, id);
CREATE INDEX deliveries_due ON deliveries (run_at) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;
