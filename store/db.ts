import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { timed } from '../observability/request-timing';
import { PrismaClient, Prisma } from '../generated/prisma/client';

export type Db = InstanceType<typeof PrismaClient>;
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** The pg pool under each client createDb made (Prisma's adapter and {@link queryRows} share it), and whether its raw statements are prepared. */
const pools = new WeakMap<Db, { pool: pg.Pool; prepared: boolean }>();

/**
 * A Prisma client on the pg driver adapter (no native query engine), over a pg pool of its own that the raw
 * statements of the hot paths use directly ({@link queryRows}). `$disconnect` ends the pool as well.
 */
export function createDb(databaseUrl: string, opts: { maxConnections?: number; prepared?: boolean } = {}): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.maxConnections ?? 10 });
  // An idle connection the server drops (a Postgres restart) emits 'error' on the pool: unheard, that would end
  // the process. The next query reconnects or fails on its own.
  pool.on('error', () => undefined);
  const db = new PrismaClient({ adapter: withTimedQueries(new PrismaPg(pool)) });
  const disconnect = db.$disconnect.bind(db);
  let ended: Promise<void> | undefined;
  db.$disconnect = async () => {
    await disconnect();
    await (ended ??= pool.end());
  };
  pools.set(db, { pool, prepared: opts.prepared ?? true });
  return db;
}

/**
 * The rows of a raw statement (built with `Prisma.sql`). On a client from {@link createDb} it goes to the client's
 * pg pool directly: Prisma's own raw path (`$queryRaw`) costs about four times the CPU of the query itself
 * (0.28 against 0.07 ms for an event stream's catch-up), on statements every execution runs a dozen times. It
 * goes as a prepared statement ({@link preparedName}) unless its client was made with `prepared: false`.
 * Columns arrive as pg parses them (timestamptz as Date, int4 as number, jsonb parsed, int8 as a string).
 * Anything else (a transaction's client) goes through Prisma.
 */
export async function queryRows<T>(db: Db | Tx, statement: Prisma.Sql): Promise<T[]> {
  const own = pools.get(db as Db);
  if (!own) return (db as Db).$queryRaw<T[]>(statement);
  const name = own.prepared ? preparedName(statement.text) : undefined;
  return timed('db', async () => (await own.pool.query({ name, text: statement.text, values: statement.values })).rows as T[]);
}

/** Statement texts given a name, at most: each connection keeps every named statement it prepared until it closes. */
export const MAX_PREPARED_STATEMENTS = 200;
const preparedNames = new Map<string, string>();

/**
 * The name `text` is prepared under on each connection (pg parses and plans it there once, then only binds), or
 * undefined once {@link MAX_PREPARED_STATEMENTS} texts have one: a text built with a list of varying length must
 * not grow every connection's statements without end. Parsing and planning were most of Postgres's CPU for the
 * hot paths' statements, whose common table expressions write three tables: a create and two transitions took
 * 2.5–2.6 ms of Postgres's CPU unprepared, 0.8 ms prepared (`npm run bench:transitions`). The text is the
 * statement's identity (its values are parameters), so the name is a digest of it. The API's client opts out
 * (`api/server.ts`).
 */
export function preparedName(text: string): string | undefined {
  const known = preparedNames.get(text);
  if (known !== undefined || preparedNames.size >= MAX_PREPARED_STATEMENTS) return known;
  const name = `eo_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
  preparedNames.set(text, name);
  return name;
}

/** One round trip to the database (readiness). */
export async function pingDatabase(db: Db): Promise<void> {
  await queryRows(db, Prisma.sql`SELECT 1`);
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
