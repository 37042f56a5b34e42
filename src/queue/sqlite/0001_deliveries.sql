-- One row per accepted webhook, from acceptance to delivered or dead. WITHOUT ROWID: the
-- time-ordered id is the table's own key, so an insert writes one tree fewer.
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
) WITHOUT ROWID;

-- Small partial indexes: only the rows the workers and operators look for. Each stays as small
-- as the backlog, so a batch of inserts dirties few of its pages.
CREATE INDEX deliveries_active ON deliveries (target, id) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_due ON deliveries (run_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'in_flight';
CREATE INDEX deliveries_dead ON deliveries (id) WHERE status = 'dead';

-- Per participant and key, the newest delivered job that wrote it: an older job (a replay, a
-- retry that lost its place) never overwrites a newer value.
CREATE TABLE target_keys (
    target      TEXT NOT NULL,
    key         TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (target, key)
) WITHOUT ROWID;
