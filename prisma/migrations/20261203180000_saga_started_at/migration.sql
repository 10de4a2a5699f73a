-- A deferred start (SAGA_START=deferred) records when Temporal accepted the saga; the sweep starts the queued rows without it.
ALTER TABLE "executions" ADD COLUMN "saga_started_at" TIMESTAMPTZ(3);
