import pg from 'pg';

/** Connections for owner locks, per API process: lock holders beyond it wait for one (never for Prisma's pool). */
const LOCK_POOL_SIZE = 8;
/** Longest wait for another submission of the same owner to finish, ms; past it the lock query fails. */
const LOCK_WAIT_MS = 15_000;

export interface OwnerLocks {
  /**
   * Runs `fn` holding a lock on `ownerId` shared by every process on this database (a session advisory lock
   * on a connection of its own pool, so `fn` may use the Prisma pool freely without starving it). `fn` may call
   * `unlock` as soon as what the lock protects is done, letting the next holder in before `fn` ends.
   */
  withOwnerLock<T>(ownerId: string, fn: (unlock: () => Promise<void>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Per-owner mutual exclusion in Postgres for a batch: its count of the owner's unfinished executions and the
 * insert of its rows are one step across API replicas. A single submission takes the same lock as a
 * transaction lock inside its insert statement (SQL function `owner_admission`, same key), so the two exclude
 * each other.
 */
export function createOwnerLocks(databaseUrl: string): OwnerLocks {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: LOCK_POOL_SIZE, options: `-c lock_timeout=${LOCK_WAIT_MS}` });
  // An idle pooled connection that drops emits here; the pool replaces it, and the next lock query reports any lasting fault.
  pool.on('error', () => undefined);
  return {
    async withOwnerLock(ownerId, fn) {
      const client = await pool.connect();
      // The pool listens for errors of idle connections only: one the server drops while it is checked out
      // (a Postgres restart) emits on the client, and with no listener that would end the process.
      const dropped = () => undefined;
      client.on('error', dropped);
      const release = (err?: Error) => {
        client.off('error', dropped);
        client.release(err);
      };
      const key = `eo:owner:${ownerId}`; // owner_admission (prisma/migrations/*_owner_admission) hashes the same text
      try {
        await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      } catch (err) {
        release(err as Error);
        throw err;
      }
      let unlocked: Promise<void> | undefined;
      // A failed unlock destroys the connection, which releases its session locks all the same.
      const unlock = () =>
        (unlocked ??= client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).then(
          () => release(),
          (err: Error) => release(err),
        ));
      try {
        return await fn(unlock);
      } finally {
        await unlock();
      }
    },
    close: () => pool.end(),
  };
}
