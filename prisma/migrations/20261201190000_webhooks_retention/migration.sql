-- Completion webhooks (callback URL, per-owner signing secret, delivery attempts) and the indexes retention deletes by.
-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "callback_url" TEXT;

-- CreateTable
CREATE TABLE "webhook_secrets" (
    "owner_id" TEXT NOT NULL,
    "encrypted_secret" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "rotated_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_secrets_pkey" PRIMARY KEY ("owner_id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL,
    "execution_id" UUID NOT NULL,
    "message_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "outcome" TEXT NOT NULL,
    "status_code" INTEGER,
    "address" TEXT,
    "error" TEXT,
    "duration_ms" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "webhook_deliveries_execution_id_attempt_key" ON "webhook_deliveries"("execution_id", "attempt");

-- CreateIndex
CREATE INDEX "execution_transitions_at_idx" ON "execution_transitions"("at");

-- CreateIndex
CREATE INDEX "executions_finished_at_idx" ON "executions"("finished_at");

-- CreateIndex
CREATE INDEX "outbox_events_state_published_at_idx" ON "outbox_events"("state", "published_at");

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

