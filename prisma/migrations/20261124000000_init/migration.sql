-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "ExecutionStatus" AS ENUM ('queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled', 'error');

-- CreateEnum
CREATE TYPE "OutboxState" AS ENUM ('pending', 'published', 'dead');

-- CreateTable
CREATE TABLE "executions" (
    "id" UUID NOT NULL,
    "owner_id" TEXT NOT NULL,
    "language" TEXT NOT NULL,
    "language_version" TEXT NOT NULL,
    "script" TEXT NOT NULL,
    "stdin" TEXT,
    "limits" JSONB NOT NULL,
    "status" "ExecutionStatus" NOT NULL DEFAULT 'queued',
    "workflow_id" TEXT NOT NULL,
    "correlation_id" TEXT NOT NULL,
    "retry_of_id" UUID,
    "event_seq" INTEGER NOT NULL DEFAULT 0,
    "exit_code" INTEGER,
    "signal" TEXT,
    "stdout" TEXT,
    "stdout_truncated" BOOLEAN NOT NULL DEFAULT false,
    "stderr" TEXT,
    "stderr_truncated" BOOLEAN NOT NULL DEFAULT false,
    "wall_time_ms" INTEGER,
    "cpu_time_ms" INTEGER,
    "peak_memory_kb" INTEGER,
    "error_type" TEXT,
    "error_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "executions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "execution_transitions" (
    "id" UUID NOT NULL,
    "execution_id" UUID NOT NULL,
    "from_status" "ExecutionStatus",
    "to_status" "ExecutionStatus" NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "reason" TEXT,
    "event_id" UUID NOT NULL,

    CONSTRAINT "execution_transitions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "outbox_events" (
    "id" UUID NOT NULL,
    "execution_id" UUID NOT NULL,
    "sequence" INTEGER NOT NULL,
    "event_type" TEXT NOT NULL,
    "envelope" JSONB NOT NULL,
    "headers" JSONB NOT NULL DEFAULT '{}',
    "state" "OutboxState" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),

    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "capacity_reservations" (
    "execution_id" UUID NOT NULL,
    "owner_id" TEXT NOT NULL,
    "language" TEXT NOT NULL,
    "reserved_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "capacity_reservations_pkey" PRIMARY KEY ("execution_id")
);

-- CreateIndex
CREATE INDEX "executions_owner_id_created_at_id_idx" ON "executions"("owner_id", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "executions_status_created_at_idx" ON "executions"("status", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "execution_transitions_execution_id_to_status_key" ON "execution_transitions"("execution_id", "to_status");

-- CreateIndex
CREATE INDEX "outbox_events_state_next_attempt_at_idx" ON "outbox_events"("state", "next_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_events_execution_id_sequence_key" ON "outbox_events"("execution_id", "sequence");

-- CreateIndex
CREATE INDEX "capacity_reservations_owner_id_idx" ON "capacity_reservations"("owner_id");

-- CreateIndex
CREATE INDEX "capacity_reservations_language_idx" ON "capacity_reservations"("language");

-- AddForeignKey
ALTER TABLE "execution_transitions" ADD CONSTRAINT "execution_transitions_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "outbox_events" ADD CONSTRAINT "outbox_events_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "capacity_reservations" ADD CONSTRAINT "capacity_reservations_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

