import { TERMINAL_STATUSES } from '../domain/execution-status';
import type { ExecutionStatus } from '../domain/execution-status';
import type { Execution } from '../generated/prisma/client';
import type { Db } from './db';
import { afterPosition, newestFirst } from './pagination';
import type { KeysetPosition } from './pagination';

/** The `executions` table's reads; its writes are the guarded transitions (`store/transitions.ts`). */

/** The execution with this id; with `ownerId`, only if that owner's (another's reads as absent). */
export const findExecution = (db: Db, id: string, ownerId: string | null = null): Promise<Execution | null> => db.execution.findUnique({ where: { id, ownerId: ownerId ?? undefined } });

export const getExecution = (db: Db, id: string): Promise<Execution> => db.execution.findUniqueOrThrow({ where: { id } });

/** Whether the execution exists; with `ownerId`, whether it exists and is that owner's. */
export async function executionExists(db: Db, id: string, ownerId: string | null = null): Promise<boolean> {
  return (await db.execution.findUnique({ where: { id, ownerId: ownerId ?? undefined }, select: { id: true } })) !== null;
}

/**
 * Of these executions, the ones the reconciler still has work on: not yet in a terminal state, or still
 * holding a capacity reservation (a pass that recorded the end but failed before releasing).
 */
export async function needingReconciliation(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.execution.findMany({
    where: { id: { in: [...ids] }, OR: [{ status: { notIn: [...TERMINAL_STATUSES] } }, { reservation: { isNot: null } }] },
    select: { id: true },
  });
  return new Set(rows.map((r) => r.id));
}

export async function statusOf(db: Db, id: string): Promise<ExecutionStatus | null> {
  return (await db.execution.findUnique({ where: { id }, select: { status: true } }))?.status ?? null;
}

export interface ExecutionFilter {
  status?: ExecutionStatus;
  language?: string;
  ownerId?: string;
}

/** Newest first after a keyset position; reads `take` rows. */
export function listExecutions(db: Db, filter: ExecutionFilter, after: KeysetPosition | null, take: number): Promise<Execution[]> {
  return db.execution.findMany({
    where: { status: filter.status, language: filter.language, ownerId: filter.ownerId, ...afterPosition(after) },
    orderBy: newestFirst,
    take,
  });
}

/** An owner's executions not yet ended (queued or running): what the per-owner quota counts. */
export function countUnfinishedOfOwner(db: Db, ownerId: string): Promise<number> {
  return db.execution.count({ where: { ownerId, status: { notIn: [...TERMINAL_STATUSES] } } });
}

/** Executions not yet ended, by status (`queued`, `running`), for the metrics' backlog gauges. */
export async function countUnfinishedByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db.execution.groupBy({ by: ['status'], where: { status: { in: ['queued', 'running'] } }, _count: true });
  return Object.fromEntries(rows.map((r) => [r.status, r._count]));
}

/**
 * Executions that may have no saga: still `queued` with only their `execution_requested` event, no capacity
 * reservation (a saga's first steps make one) and created before `olderThan` — the rows the API wrote but
 * could not start a saga for (api/unstarted-executions.ts checks each against Temporal). Oldest first.
 */
export function possiblyUnstarted(db: Db, olderThan: Date, take: number): Promise<Execution[]> {
  return db.execution.findMany({
    where: { status: 'queued', eventSeq: 1, reservation: { is: null }, createdAt: { lt: olderThan } },
    orderBy: { createdAt: 'asc' },
    take,
  });
}
