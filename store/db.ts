import { PrismaPg } from '@prisma/adapter-pg';
import { timed } from '../observability/request-timing';
import { PrismaClient } from '../generated/prisma/client';

export type Db = InstanceType<typeof PrismaClient>;
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** A Prisma client on the pg driver adapter (no native query engine). */
export function createDb(databaseUrl: string, opts: { maxConnections?: number } = {}): Db {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: opts.maxConnections ?? 10 });
  return new PrismaClient({ adapter: withTimedQueries(adapter) });
}

/** One round trip to the database (readiness). */
export async function pingDatabase(db: Db): Promise<void> {
  await db.$queryRaw`SELECT 1`;
}

type Connection = Awaited<ReturnType<PrismaPg['connect']>>;
type Transaction = Awaited<ReturnType<Connection['startTransaction']>>;

/**
 * The adapter with every query timed as `db` of the request it serves (`Server-Timing`, observability/request-timing.ts),
 * in a transaction too: at the driver, where each query is one round trip. A Prisma query extension timed the same
 * thing at ~1 ms of the API's CPU per POST (a fifth of it); this costs a property lookup per query.
 */
function withTimedQueries(factory: PrismaPg): PrismaPg {
  return intercept(factory, { connect: (connect) => async () => timedQueryable((await connect()) as Connection) });
}

function timedQueryable<T extends Connection | Transaction>(queryable: T): T {
  return intercept(queryable, {
    queryRaw: (query) => (params: unknown) => timed('db', () => query(params)),
    executeRaw: (execute) => (params: unknown) => timed('db', () => execute(params)),
    startTransaction: (start) => async (...args: unknown[]) => timedQueryable((await start(...args)) as Transaction),
  });
}

type Method = (...args: unknown[]) => Promise<unknown>;

/** `target` with some of its methods replaced, each given the original; every method is called on `target` itself. */
function intercept<T extends object>(target: T, replacements: Record<string, (original: Method) => Method>): T {
  return new Proxy(target, {
    get(object, key, receiver) {
      const value: unknown = Reflect.get(object, key, receiver);
      if (typeof value !== 'function') return value;
      // Bound to the target, the proxy's or not: a method reaching private state must not see the proxy as `this`.
      const bound = (value as Method).bind(object);
      const replace = typeof key === 'string' ? replacements[key] : undefined;
      return replace ? replace(bound) : bound;
    },
  });
}
