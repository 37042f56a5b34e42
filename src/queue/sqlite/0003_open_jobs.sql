-- The queue order (which target is due, which job heads it) moves into the writer's memory
-- (src/queue/sqlite/open_jobs.rs), built from the open rows when the writer starts. The
-- (target, id) index made every insert write a page of its own, since a second's webhooks
-- interleave many participants; deliveries_open only grows at its end, and finding the open
-- rows at startup (and counting them for the gauges) is all it is for.
DROP INDEX deliveries_active;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_open ON deliveries (id) WHERE finished_at IS NULL;
