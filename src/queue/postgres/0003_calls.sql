-- The IVR handshake. A call the flow registered, kept until expires_at: what a CRM that knows
-- only the caller's number (or a key the IVR collected) is matched against, and what the flow
-- may pull. Shared by every replica, like the jobs.
CREATE TABLE calls (
    conversation_id text PRIMARY KEY,
    participant_id  text,                   -- as registered, or as the bridge chose it
    ani             text,                   -- E.164 (+15551234567)
    dnis            text,
    keys            text NOT NULL,          -- JSON object of the CRM keys the IVR collected
    registered_at   bigint NOT NULL,        -- unix ms, first registration
    updated_at      bigint NOT NULL,        -- unix ms, latest registration: the most recent wins
    expires_at      bigint NOT NULL
);
CREATE INDEX calls_ani ON calls (ani, updated_at) WHERE ani IS NOT NULL;
CREATE INDEX calls_expiry ON calls (expires_at);

-- A call's CRM keys, one row each, so that a webhook naming an account number finds its call.
CREATE TABLE call_keys (
    name            text NOT NULL,
    value           text NOT NULL,
    conversation_id text NOT NULL,
    PRIMARY KEY (name, value, conversation_id)
);
CREATE INDEX call_keys_call ON call_keys (conversation_id);

-- What the flow pulls: per registered call and key, the newest value a committed webhook
-- mapped, and the job it came from. Written with the job, in its statement, only for
-- registered calls.
CREATE TABLE call_data (
    conversation_id text NOT NULL,
    key             text NOT NULL,
    value           text NOT NULL,
    delivery_id     uuid NOT NULL,
    updated_at      bigint NOT NULL,
    PRIMARY KEY (conversation_id, key)
);

-- A job whose source names the call by the caller's number or a CRM key: `address` holds it
-- (ani:+15551234567, key:<name>=<value>) and `resolution` how it became a conversation. Until
-- it does, conversation_id is '' and the job waits for the call to register.
ALTER TABLE deliveries ADD COLUMN address text;
ALTER TABLE deliveries ADD COLUMN resolution text;
CREATE INDEX deliveries_unresolved ON deliveries (address) WHERE conversation_id = '' AND finished_at IS NULL;
