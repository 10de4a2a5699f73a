-- AlterEnum
ALTER TYPE "OutboxState" ADD VALUE 'discarded';

-- CreateTable
CREATE TABLE "dead_letter_actions" (
    "id" UUID NOT NULL,
    "event_id" UUID NOT NULL,
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "reason" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dead_letter_actions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "dead_letter_actions_event_id_at_idx" ON "dead_letter_actions"("event_id", "at");

-- AddForeignKey
ALTER TABLE "dead_letter_actions" ADD CONSTRAINT "dead_letter_actions_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "outbox_events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

