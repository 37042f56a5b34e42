-- The jobs for a conversation, newest last: a call registering after webhooks for it were
-- committed takes their values for the flow's pull, and operators look jobs up by conversation.
CREATE INDEX deliveries_conversation ON deliveries (conversation_id, id) WHERE conversation_id <> '';
