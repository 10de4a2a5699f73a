-- An owner's list filtered by status walked the status index past every other owner's rows; this index has it in
-- order. Its (owner_id, status) prefix serves the quota's count (owner_admission), so the next migration drops the
-- index that served it. CONCURRENTLY, alone in its migration: see 20261204230000_all_executions_order_index.
CREATE INDEX CONCURRENTLY "executions_owner_id_status_created_at_id_idx" ON "executions" ("owner_id", "status", "created_at" DESC, "id" DESC);
