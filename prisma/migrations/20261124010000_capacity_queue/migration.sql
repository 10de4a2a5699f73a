-- CreateEnum
CREATE TYPE "CapacityState" AS ENUM ('waiting', 'holding');

-- DropIndex
DROP INDEX "capacity_reservations_language_idx";

-- DropIndex
DROP INDEX "capacity_reservations_owner_id_idx";

-- AlterTable
ALTER TABLE "capacity_reservations" DROP COLUMN "reserved_at",
ADD COLUMN     "enqueued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
ADD COLUMN     "granted_at" TIMESTAMPTZ(3),
ADD COLUMN     "state" "CapacityState" NOT NULL DEFAULT 'waiting';

-- Rows from before the queue existed were held slots.
UPDATE "capacity_reservations" SET "state" = 'holding', "granted_at" = "enqueued_at";

-- CreateTable
CREATE TABLE "capacity_owners" (
    "owner_id" TEXT NOT NULL,
    "last_granted_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "capacity_owners_pkey" PRIMARY KEY ("owner_id")
);

-- CreateIndex
CREATE INDEX "capacity_reservations_state_owner_id_idx" ON "capacity_reservations"("state", "owner_id");

-- CreateIndex
CREATE INDEX "capacity_reservations_state_language_idx" ON "capacity_reservations"("state", "language");

