-- Served by the prefix of executions_owner_id_status_created_at_id_idx (the migration before): one index fewer to
-- write at each status change. CONCURRENTLY, alone in its migration, so no query waits behind the drop's lock.
DROP INDEX CONCURRENTLY "executions_owner_id_status_idx";
