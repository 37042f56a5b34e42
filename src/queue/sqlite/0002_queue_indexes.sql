-- The queue's indexes name finished_at (NULL while a job is pending or in flight) and
-- dead_reason (set only on dead letters) instead of status. SQLite leaves an index alone when
-- an update changes none of its columns and nothing its WHERE clause reads, so a claim
-- (pending -> in flight) now writes the row and no index. The lease_until index goes: expired
-- leases are looked for once a second, not on every claim.
DROP INDEX deliveries_active;
DROP INDEX deliveries_due;
DROP INDEX deliveries_leased;
DROP INDEX deliveries_dead;
CREATE INDEX deliveries_active ON deliveries (target, id) WHERE finished_at IS NULL;
CREATE INDEX deliveries_due ON deliveries (run_at) WHERE finished_at IS NULL;
CREATE INDEX deliveries_dead ON deliveries (id) WHERE dead_reason IS NOT NULL;
