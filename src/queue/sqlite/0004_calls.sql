-- The IVR handshake. A call the flow registered, kept until expires_at: what a CRM that knows
-- only the caller's number (or a key the IVR collected) is matched against, and what the flow
-- may pull.
CREATE TABLE calls (
    conversation_id TEXT PRIMARY KEY,
    participant_id  TEXT,                   -- as registered, or as the bridge chose it
    ani             TEXT,                   -- E.164 (+15551234567)
    dnis            TEXT,
    keys            TEXT NOT NULL,          -- JSON object of the CRM keys the IVR collected
    registered_at   INTEGER NOT NULL,       -- unix ms, first registration
    updated_at      INTEGER NOT NULL,       -- unix ms, latest registration: the most recent wins
    expires_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX calls_ani ON calls (ani, updated_at) WHERE ani IS NOT NULL;
CREATE INDEX calls_expiry ON calls (expires_at);

-- A call's CRM keys, one row each, so that a webhook naming an account number finds its call.
CREATE TABLE call_keys (
    name            TEXT NOT NULL,
    value           TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (name, value, conversation_id)
) WITHOUT ROWID;
CREATE INDEX call_keys_call ON call_keys (conversation_id);

-- What the flow pulls: per registered call and key, the newest value a committed webhook
-- mapped, and the job it came from. Written with the job, in its transaction, only for
-- registered calls.
CREATE TABLE call_data (
    conversation_id TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, key)
) WITHOUT ROWID;

-- A job whose source names the call by the caller's number or a CRM key: `address` holds it
-- (ani:+15551234567, key:<name>=<value>) and `resolution` how it became a conversation. Until
-- it does, conversation_id is '' and the job waits for the call to register.
ALTER TABLE deliveries ADD COLUMN address TEXT;
ALTER TABLE deliveries ADD COLUMN resolution TEXT;
CREATE INDEX deliveries_unresolved ON deliveries (address) WHERE conversation_id = '' AND finished_at IS NULL;
