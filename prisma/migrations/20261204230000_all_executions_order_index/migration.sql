-- Listing every execution newest first (an admin's GET /executions, or one filtered by language) had no index in
-- that order: each page read and sorted the whole table, 45 ms at 300,000 rows and linear beyond.
-- CONCURRENTLY, so submissions and transitions go on while a large table is indexed; one statement to a migration,
-- which Prisma then runs outside a transaction, as CONCURRENTLY requires. A build that fails leaves an invalid
-- index: drop it, `prisma migrate resolve --rolled-back <this migration>`, and deploy again.
CREATE INDEX CONCURRENTLY "executions_created_at_id_idx" ON "executions" ("created_at" DESC, "id" DESC);
