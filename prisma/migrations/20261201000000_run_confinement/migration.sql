-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "oom_killed" BOOLEAN,
ADD COLUMN     "sandboxed" BOOLEAN;
