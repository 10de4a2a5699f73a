-- The per-owner quota counts an owner's queued and running executions on every submission.
CREATE INDEX "executions_owner_id_status_idx" ON "executions"("owner_id", "status");
