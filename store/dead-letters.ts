import { v7 as uuidv7 } from 'uuid';
import type { OutboxEvent } from '../generated/prisma/client';
import type { Db } from './db';
import { afterPosition, newestFirst } from './pagination';
import type { KeysetPosition } from './pagination';
import { OUTBOX_CHANNEL } from './notifications';

export type DeadLetterAction = 'retry' | 'discard';

export interface DeadLetterFilter {
  eventType?: string;
  executionId?: string;
}

export interface ActionBy {
  actor: string;
  reason: string | null;
}

/**
 * Retries or discards dead letters, each in the same transaction as its audit row. Only rows still `dead`
 * change (a concurrent action on the same row does nothing twice). A retry makes the event pending again
 * with its attempts reset, and wakes the relay. Returns the ids acted on.
 */
export async function actOnDeadLetters(db: Db, ids: readonly string[], action: DeadLetterAction, by: ActionBy): Promise<string[]> {
  if (ids.length === 0) return [];
  return db.$transaction(async (tx) => {
    const changed =
      action === 'retry'
        ? await tx.$queryRaw<Array<{ id: string }>>`
            UPDATE outbox_events SET state = 'pending', attempts = 0, next_attempt_at = now()
             WHERE id = ANY(${ids}::uuid[]) AND state = 'dead' RETURNING id`
        : await tx.$queryRaw<Array<{ id: string }>>`
            UPDATE outbox_events SET state = 'discarded'
             WHERE id = ANY(${ids}::uuid[]) AND state = 'dead' RETURNING id`;
    if (changed.length === 0) return [];
    await tx.deadLetterAction.createMany({ data: changed.map(({ id }) => ({ id: uuidv7(), eventId: id, action, actor: by.actor, reason: by.reason })) });
    if (action === 'retry') await tx.$executeRawUnsafe(`SELECT pg_notify('${OUTBOX_CHANNEL}', '')`);
    return changed.map(({ id }) => id);
  });
}

/** Ids of the dead letters matching a filter, oldest first, at most `max` (for bulk actions). */
export async function deadLetterIds(db: Db, filter: DeadLetterFilter, max: number): Promise<string[]> {
  const rows = await db.outboxEvent.findMany({
    where: { state: 'dead', eventType: filter.eventType, executionId: filter.executionId },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    take: max,
    select: { id: true },
  });
  return rows.map((r) => r.id);
}

/** Dead letters matching a filter, newest first after a keyset position; reads `take` rows. */
export function listDeadLetters(db: Db, filter: DeadLetterFilter, after: KeysetPosition | null, take: number): Promise<OutboxEvent[]> {
  return db.outboxEvent.findMany({
    where: { state: 'dead', eventType: filter.eventType, executionId: filter.executionId, ...afterPosition(after) },
    orderBy: newestFirst,
    take,
  });
}
