import type { Pool, PoolClient, QueryConfig } from 'pg';
import { Prisma, type OutboxEvent } from '../generated/prisma/client';
import type { ExecutionStatus } from '../domain/execution-status';
import { queryRows, type Db } from './db';

/**
 * The `outbox_events` table: the relay's claim and settle queries (raw pg, one transaction per cycle) and
 * the API's and metrics' reads (Prisma).
 */

export interface OutboxRow {
  id: string;
  execution_id: string;
  sequence: number;
  event_type: string;
  envelope: Record<string, unknown>;
  headers: Record<string, string>;
  attempts: number;
}

/** Heads offered to the lock per event claimed: with several relays, the first heads may be another's. */
const HEADS_PER_CLAIM = 4;

// The statements of every relay cycle are prepared (named): each connection parses and plans them once.

/**
 * Claims the oldest due event of each execution whose earlier events are all settled, locking them
 * (SKIP LOCKED): several relays share the work, and an execution's events go out strictly in order.
 *
 * Two statements, each linear in the pending events whatever the planner believes: first each execution's
 * head (its lowest pending sequence), then a lock on the oldest due ones, rechecked as still pending. The one
 * statement before (the oldest pending events with no earlier pending event, NOT EXISTS) was planned as a
 * nested loop over every pending event whenever the statistics still counted none pending — as when an outage's
 * backlog grows faster than autovacuum analyses: 390 ms a claim at 4,000 pending, and quadratic beyond.
 */
export async function claimHeads(client: PoolClient, limit: number): Promise<OutboxRow[]> {
  const { rows: heads } = await client.query<{ id: string }>({
    name: 'eo_outbox_heads',
    text: `SELECT id FROM (SELECT DISTINCT ON (execution_id) id, created_at, next_attempt_at
                       FROM outbox_events WHERE state = 'pending'
                      ORDER BY execution_id, sequence) AS head
      WHERE next_attempt_at <= now()
      ORDER BY created_at, id
      LIMIT $1`,
    values: [limit * HEADS_PER_CLAIM],
  });
  if (heads.length === 0) return [];
  const { rows } = await client.query<OutboxRow>({
    name: 'eo_outbox_claim',
    text: `SELECT id, execution_id, sequence, event_type, envelope, headers, attempts
       FROM outbox_events
      WHERE id = ANY($1::uuid[]) AND state = 'pending' AND next_attempt_at <= now()
      ORDER BY created_at, id
      LIMIT $2
        FOR UPDATE SKIP LOCKED`,
    values: [heads.map((h) => h.id), limit],
  });
  return rows;
}

export async function markPublished(client: PoolClient, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await client.query({
    name: 'eo_outbox_published',
    text: `UPDATE outbox_events SET state = 'published', published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::uuid[])`,
    values: [ids],
  });
}

/** Counts a failed attempt; after `maxAttempts` the event is dead-lettered and stops blocking its execution. */
export async function markFailed(client: PoolClient, row: OutboxRow, error: string, maxAttempts: number, retryDelayMs: number): Promise<'retry' | 'dead'> {
  const dead = row.attempts + 1 >= maxAttempts;
  await client.query(
    `UPDATE outbox_events
        SET attempts = attempts + 1, last_error = $2,
            state = CASE WHEN $3 THEN 'dead'::"OutboxState" ELSE state END,
            next_attempt_at = now() + ($4::int * interval '1 millisecond')
      WHERE id = $1::uuid`,
    [row.id, error.slice(0, 2000), dead, retryDelayMs],
  );
  return dead ? 'dead' : 'retry';
}

export async function countPending(client: { query: PoolClient['query'] }): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM outbox_events WHERE state = 'pending'`);
  return Number(rows[0]?.n ?? 0);
}

/** Runs `work` in one transaction on a pooled connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection the server drops while checked out (a Postgres restart during a publish) emits 'error' on the
  // client, where the pool does not listen: unheard, that would end the process. The next query fails instead.
  let dropped: Error | undefined;
  const onError = (err: Error) => (dropped = err);
  client.on('error', onError);
  let failed: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    failed = err as Error;
    await client.query('ROLLBACK').catch(() => undefined); // the connection may be gone: the transaction with it
    throw err;
  } finally {
    client.off('error', onError);
    // A connection that failed is destroyed rather than pooled again.
    client.release(dropped ?? failed);
  }
}

export const findOutboxEvent = (db: Db, id: string): Promise<OutboxEvent | null> => db.outboxEvent.findUnique({ where: { id } });

/** An execution's events in order, after `sequence` (0: all of them). */
export const eventsOf = (db: Db, executionId: string, afterSequence = 0): Promise<OutboxEvent[]> =>
  db.outboxEvent.findMany({ where: { executionId, sequence: { gt: afterSequence } }, orderBy: { sequence: 'asc' } });

/** An execution's status with its events after a sequence, as an event stream reads them. */
export interface ExecutionProgress {
  status: ExecutionStatus;
  events: Array<Pick<OutboxEvent, 'sequence' | 'eventType' | 'envelope'>>;
}

/**
 * The execution's status and its events after `afterSequence`, in order, in one raw query: one snapshot, so a
 * terminal status comes with its terminal event, and no Prisma compiling on a path every stream takes at each
 * change. Null when there is no such execution.
 */
export async function progressOf(db: Db, executionId: string, afterSequence: number): Promise<ExecutionProgress | null> {
  const rows = await queryRows<{ status: ExecutionStatus; sequence: number | null; event_type: string | null; envelope: OutboxEvent['envelope'] }>(db, Prisma.sql`
    SELECT e.status::text AS status, o.sequence, o.event_type, o.envelope
      FROM executions e LEFT JOIN outbox_events o ON o.execution_id = e.id AND o.sequence > ${afterSequence}::int
     WHERE e.id = ${executionId}::uuid
     ORDER BY o.sequence`);
  const [first] = rows;
  if (!first) return null;
  const events = rows.filter((r) => r.sequence !== null).map((r) => ({ sequence: r.sequence!, eventType: r.event_type!, envelope: r.envelope }));
  return { status: first.status, events };
}

export interface OutboxBacklog {
  /** Events by state, of `pending` and `dead`. */
  byState: Record<string, number>;
  oldestPendingAt: Date | null;
}

/** What the relay has not published yet, for the metrics' backlog gauges. */
export async function outboxBacklog(db: Db): Promise<OutboxBacklog> {
  const [rows, oldest] = await Promise.all([
    db.outboxEvent.groupBy({ by: ['state'], where: { state: { in: ['pending', 'dead'] } }, _count: true }),
    db.outboxEvent.aggregate({ where: { state: 'pending' }, _min: { createdAt: true } }),
  ]);
  return { byState: Object.fromEntries(rows.map((r) => [r.state, r._count])), oldestPendingAt: oldest._min.createdAt };
}

/** The relay's view of its backlog (plain pg, one query): events waiting, dead letters, the oldest wait in seconds. */
export async function relayBacklog(client: { query: PoolClient['query'] }): Promise<{ pending: number; dead: number; oldestPendingAgeSeconds: number }> {
  const { rows } = await client.query<{ pending: string; dead: string; age: string | null }>(
    `SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
            count(*) FILTER (WHERE state = 'dead') AS dead,
            EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state = 'pending')) AS age
       FROM outbox_events WHERE state IN ('pending', 'dead')`,
  );
  const row = rows[0];
  return { pending: Number(row?.pending ?? 0), dead: Number(row?.dead ?? 0), oldestPendingAgeSeconds: Math.max(0, Number(row?.age ?? 0)) };
}

/** The relay's readiness probe: its pool reaches Postgres within `timeoutMs`. */
export async function pingPool(pool: Pool, timeoutMs: number): Promise<void> {
  await pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as QueryConfig);
}
