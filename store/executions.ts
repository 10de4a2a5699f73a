import { TERMINAL_STATUSES, UNFINISHED_STATUSES } from '../domain/execution-status';
import type { ExecutionStatus } from '../domain/execution-status';
import { Prisma, type Execution } from '../generated/prisma/client';
import { queryRows, type Db } from './db';
import { afterPosition, newestFirst } from './pagination';
import type { KeysetPosition } from './pagination';

/** The `executions` table's reads; its writes are the guarded transitions (`store/transitions.ts`). */

/** The executions row as the Prisma model names its fields, for raw statements that return one. */
export const EXECUTION_FIELDS = Prisma.raw(`id::text AS "id", owner_id AS "ownerId", language, language_version AS "languageVersion", script, stdin,
  limits, status::text AS "status", workflow_id AS "workflowId", correlation_id AS "correlationId", traceparent,
  retry_of_id::text AS "retryOfId", idempotency_key AS "idempotencyKey", request_hash AS "requestHash",
  callback_url AS "callbackUrl", event_seq AS "eventSeq", exit_code AS "exitCode", signal, stdout,
  stdout_truncated AS "stdoutTruncated", stderr, stderr_truncated AS "stderrTruncated", wall_time_ms AS "wallTimeMs",
  cpu_time_ms AS "cpuTimeMs", peak_memory_kb AS "peakMemoryKb", oom_killed AS "oomKilled", sandboxed,
  error_type AS "errorType", error_message AS "errorMessage", created_at AS "createdAt", updated_at AS "updatedAt",
  started_at AS "startedAt", finished_at AS "finishedAt", saga_started_at AS "sagaStartedAt"`);

/**
 * The execution with this id; with `ownerId`, only if that owner's (another's reads as absent). Raw: every
 * GET and every run reads it, and a compiled Prisma query costs about twice the CPU.
 */
export async function findExecution(db: Db, id: string, ownerId: string | null = null): Promise<Execution | null> {
  const [execution] = await queryRows<Execution>(db, Prisma.sql`
    SELECT ${EXECUTION_FIELDS} FROM executions WHERE id = ${id}::uuid AND (${ownerId}::text IS NULL OR owner_id = ${ownerId}::text)`);
  return execution ?? null;
}

export const getExecution = (db: Db, id: string): Promise<Execution> => db.execution.findUniqueOrThrow({ where: { id } });

/** Whether the execution exists; with `ownerId`, whether it exists and is that owner's. */
export async function executionExists(db: Db, id: string, ownerId: string | null = null): Promise<boolean> {
  const rows = await queryRows(db, Prisma.sql`SELECT 1 FROM executions WHERE id = ${id}::uuid AND (${ownerId}::text IS NULL OR owner_id = ${ownerId}::text)`);
  return rows.length > 0;
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
  return db.execution.count({ where: { ownerId, status: { in: [...UNFINISHED_STATUSES] } } });
}

/** Executions not yet ended, by status (`queued`, `running`), for the metrics' backlog gauges. */
export async function countUnfinishedByStatus(db: Db): Promise<Record<string, number>> {
  const rows = await db.execution.groupBy({ by: ['status'], where: { status: { in: ['queued', 'running'] } }, _count: true });
  return Object.fromEntries(rows.map((r) => [r.status, r._count]));
}

/** Records that the saga of this execution exists (a deferred start, or a sweep that found it). Idempotent. */
export async function markSagaStarted(db: Db, id: string): Promise<void> {
  await queryRows(db, Prisma.sql`UPDATE executions SET saga_started_at = now() WHERE id = ${id}::uuid AND saga_started_at IS NULL`);
}

/**
 * Queued executions created before `olderThan` that no start was seen for (SAGA_START=deferred), oldest first: the
 * sweep starts them. The (status, created_at) index finds them among the queued.
 */
export function unconfirmedStarts(db: Db, olderThan: Date, take: number): Promise<Execution[]> {
  return queryRows<Execution>(db, Prisma.sql`
    SELECT ${EXECUTION_FIELDS} FROM executions
     WHERE status = 'queued' AND saga_started_at IS NULL AND created_at < ${olderThan}
     ORDER BY created_at, id LIMIT ${take}`);
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
