-- The queue's indexes name finished_at (NULL while a job is pending or in flight) and
-- dead_reason (set only on dead letters) instead of status. A claim (pending -> in flight)
-- then changes no indexed column, and with room left on the page (fillfactor) PostgreSQL
-- rewrites the row in place (a HOT update) without adding an entry to any index. The
-- lease_until index goes: expired leases are looked for once a second, not on every claim.
DROP INDEX deliveries_active;
DROP INDEX deliveries_due;
DROP INDEX deliveries_leased;
DROP INDEX deliveries_dead;
DROP INDEX deliveries_finished;
CREATE INDEX deliveries_active ON deliveries (target, id) WHERE finished_at IS NULL;
CREATE INDEX deliveries_due ON deliveries (run_at) WHERE finished_at IS NULL;
CREATE INDEX deliveries_dead ON deliveries (id) WHERE dead_reason IS NOT NULL;
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;
ALTER TABLE deliveries SET (fillfactor = 80);
