-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "idempotency_key" TEXT,
ADD COLUMN     "request_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "executions_owner_id_idempotency_key_key" ON "executions"("owner_id", "idempotency_key");

