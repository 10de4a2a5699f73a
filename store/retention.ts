import type { Db } from './db';

/**
 * Retention deletes: each call is one statement — its own short transaction — over at most `limit` rows,
 * chosen by an index on their age and locked with `FOR UPDATE SKIP LOCKED`, so it never waits on a row the
 * hot path holds (a relay publishing, a saga recording) and never takes a table lock. Each returns the rows
 * it deleted; the caller loops while a batch comes back full.
 */

const TERMINAL = `('completed','failed','timed_out','cancelled','error')`;

/** Published outbox events published before `cutoff`. */
export async function deletePublishedEvents(db: Db, cutoff: Date, limit: number): Promise<number> {
  return db.$executeRaw`
    DELETE FROM outbox_events WHERE id IN (
      SELECT id FROM outbox_events WHERE state = 'published' AND published_at < ${cutoff}
      ORDER BY published_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
}

/** Dead letters (dead or discarded events) written before `cutoff`; their action audit goes with them (cascade). */
export async function deleteDeadLetters(db: Db, cutoff: Date, limit: number): Promise<number> {
  return db.$executeRaw`
    DELETE FROM outbox_events WHERE id IN (
      SELECT id FROM outbox_events WHERE state IN ('dead', 'discarded') AND created_at < ${cutoff}
      LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
}

/**
 * Audit rows written before `cutoff`: status transitions of finished executions only (a live execution's
 * transitions are how a retried write is recognised), and dead-letter actions.
 */
export async function deleteAuditRows(db: Db, cutoff: Date, limit: number): Promise<number> {
  const transitions = await db.$executeRawUnsafe(
    `DELETE FROM execution_transitions WHERE id IN (
       SELECT t.id FROM execution_transitions t JOIN executions e ON e.id = t.execution_id
       WHERE t.at < $1 AND e.status IN ${TERMINAL}
       ORDER BY t.at LIMIT $2 FOR UPDATE OF t SKIP LOCKED)`,
    cutoff,
    limit,
  );
  const actions = await db.$executeRaw`
    DELETE FROM dead_letter_actions WHERE id IN (
      SELECT id FROM dead_letter_actions WHERE at < ${cutoff} LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
  return transitions + actions;
}

/**
 * Executions that ended before `cutoff`, with what hangs off them (transitions, events, webhook attempts —
 * by cascade), unless an event of theirs still waits for the relay (it would be lost). Bounded by `limit`
 * executions (each carries a handful of rows).
 */
export async function deleteFinishedExecutions(db: Db, cutoff: Date, limit: number): Promise<number> {
  return db.$executeRawUnsafe(
    `DELETE FROM executions WHERE id IN (
       SELECT e.id FROM executions e
       WHERE e.finished_at < $1 AND e.status IN ${TERMINAL}
         AND NOT EXISTS (SELECT 1 FROM outbox_events o WHERE o.execution_id = e.id AND o.state = 'pending')
       ORDER BY e.finished_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED)`,
    cutoff,
    limit,
  );
}
