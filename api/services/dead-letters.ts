import type { OutboxEvent } from '../../generated/prisma/client';
import type { Db } from '../../store/db';
import { actOnDeadLetters, deadLetterIds, listDeadLetters } from '../../store/dead-letters';
import type { ActionBy, DeadLetterAction, DeadLetterFilter } from '../../store/dead-letters';
import { findOutboxEvent } from '../../store/outbox';
import type { KeysetPosition } from '../../store/pagination';
import { pageOf } from '../../store/pagination';
import { HttpError, notFound } from '../problem';

export interface DeadLetterServiceDeps {
  db: Db;
}

/** Most dead letters one bulk retry touches; repeat the call for more. */
export const BULK_MAX = 1_000;

/**
 * Operators' dead-letter queue: the outbox rows the relay gave up on (`dead`). Each can be retried (back to
 * `pending`, attempts reset, the relay woken) or discarded (kept as `discarded`), one by one or retried in
 * bulk by filter; every action writes an audit row (`dead_letter_actions`: who, when, why).
 * A retried event is published after its execution's later events, which did not wait for it.
 */
export function createDeadLetterService(deps: DeadLetterServiceDeps) {
  const { db } = deps;
  return {
    /** A page, newest first, after a keyset position. */
    async list(filter: DeadLetterFilter, after: KeysetPosition | null, limit: number) {
      return pageOf(await listDeadLetters(db, filter, after, limit + 1), limit);
    },

    /** Retries up to {@link BULK_MAX} dead letters matching the filter (none: all), oldest first. */
    async retryMatching(filter: DeadLetterFilter, by: ActionBy): Promise<{ retried: string[]; more: boolean }> {
      const ids = await deadLetterIds(db, filter, BULK_MAX);
      const retried = await actOnDeadLetters(db, ids, 'retry', by);
      return { retried, more: ids.length === BULK_MAX };
    },

    /**
     * Retries or discards one dead letter; returns the event as it is now.
     * @throws HttpError 404 (unknown event), 409 (not dead).
     */
    async actOn(id: string, action: DeadLetterAction, by: ActionBy): Promise<OutboxEvent> {
      const acted = await actOnDeadLetters(db, [id], action, by);
      const event = await findOutboxEvent(db, id);
      if (!event) throw notFound(`dead letter ${id}`);
      if (acted.length === 0) throw new HttpError(409, 'not-a-dead-letter', 'Not a dead letter', `event ${id} is ${event.state}, not dead`);
      return event;
    },
  };
}

export type DeadLetterService = ReturnType<typeof createDeadLetterService>;
