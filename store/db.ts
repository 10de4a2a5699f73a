import { PrismaPg } from '@prisma/adapter-pg';
import { timed } from '../observability/request-timing';
import { PrismaClient } from '../generated/prisma/client';

/** A Prisma client on the pg driver adapter, each query timed as the request it serves (`Server-Timing`'s `db`). */
export type Db = ReturnType<typeof createDb>;
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** A Prisma client on the pg driver adapter (no native query engine). */
export function createDb(databaseUrl: string, opts: { maxConnections?: number } = {}) {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: opts.maxConnections ?? 10 });
  return new PrismaClient({ adapter }).$extends({
    query: { $allOperations: ({ args, query }) => timed('db', () => query(args)) },
  });
}

/** One round trip to the database (readiness). */
export async function pingDatabase(db: Db): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}
