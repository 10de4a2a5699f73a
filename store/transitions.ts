import { v7 as uuidv7 } from 'uuid';
import { EVENT_FOR_STATUS } from '../domain/events';
import type { EventEnvelope, EventPayload, EventType } from '../domain/events';
import { canTransition, TERMINAL_STATUSES } from '../domain/execution-status';
import type { ErrorType, ExecutionStatus } from '../domain/execution-status';
import type { NormalizedExecutionRequest } from '../domain/execution-request';
import type { ExecutionSagaInput } from '../domain/saga';
import { Prisma, type Execution } from '../generated/prisma/client';
import type { Db, Tx } from './db';
import { EXECUTION_FIELDS } from './executions';
import { childTraceparent } from '../observability/trace-context';
import { buildEnvelope } from './envelope';
import type { Producer } from './envelope';
import { OwnerQuotaExceededError, TransitionRefusedError } from './errors';
import { EXECUTION_CHANGES_CHANNEL, OUTBOX_CHANNEL } from './notifications';


export interface NewExecution extends NormalizedExecutionRequest {
  id: string;
  ownerId: string;
  correlationId: string;
  retryOfId?: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  traceparent?: string | null;
}

/** The execution a saga input describes: what both the API and the saga's first step create, idempotently. */
export function newExecutionFrom(input: ExecutionSagaInput): NewExecution {
  return {
    id: input.executionId,
    ownerId: input.ownerId,
    correlationId: input.correlationId,
    retryOfId: input.retryOfId,
    idempotencyKey: input.idempotencyKey ?? null,
    requestHash: input.requestHash ?? null,
    traceparent: input.traceparent ?? null,
    language: input.language,
    version: input.version,
    script: input.script,
    stdin: input.stdin,
    limits: input.limits,
    ...(input.callbackUrl === undefined ? {} : { callbackUrl: input.callbackUrl }),
  };
}

/** Result fields a terminal transition may set. */
export interface ResultFields {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stdoutTruncated: boolean;
  stderr: string;
  stderrTruncated: boolean;
  wallTimeMs: number | null;
  cpuTimeMs: number | null;
  peakMemoryKb: number | null;
  oomKilled: boolean | null;
  sandboxed: boolean | null;
  errorType: ErrorType | null;
  errorMessage: string | null;
  startedAt: Date;
  finishedAt: Date;
}

export interface TransitionRequest {
  executionId: string;
  /** Accepted current states; the update is applied only from one of them. */
  from: readonly ExecutionStatus[];
  to: ExecutionStatus;
  actor: string;
  reason?: string | null;
  fields?: Partial<ResultFields>;
  producer: Producer;
}

export interface TransitionResult {
  execution: Execution;
  /** False when this exact transition had already been applied (a retried write): nothing was written. */
  applied: boolean;
}

/**
 * Creates the execution in `queued` with its audit row and `execution_requested` event: one statement, so one
 * round trip and one transaction. Idempotent by id: a second call writes nothing and returns `created: false`.
 * With `ownerQuota`, the statement first takes the owner's lock and counts its unfinished executions
 * (`owner_admission`, held to the statement's end), and writes nothing past the quota.
 * @returns the row as written, when this call wrote it.
 * @throws OwnerQuotaExceededError the owner already has `ownerQuota` executions queued or running.
 */
export async function createExecution(db: Db, input: NewExecution, actor: string, producer: Producer, ownerQuota: number | null = null): Promise<{ created: boolean; execution: Execution | null }> {
  const envelope = buildEnvelope({
    type: 'execution_requested',
    aggregateId: input.id,
    correlationId: input.correlationId,
    causationId: null,
    producer,
    payload: { execution_id: input.id, owner_id: input.ownerId, language: input.language, version: input.version, limits: input.limits, retry_of: input.retryOfId ?? null },
  });
  const traceparent = input.traceparent ?? null;
  const at = new Date(); // stamped here, as Prisma stamps its defaults (see writeEventAndAudit)
  const writes = eventWrites({ executionId: input.id, sequence: 1, envelope, traceparent, from: null, to: 'queued', actor, reason: null, at }, Prisma.sql`FROM created`);
  const [outcome] = await db.$queryRaw<Array<Execution & { active: number | null }>>`
    WITH gate AS (
      SELECT CASE WHEN ${ownerQuota}::int IS NULL THEN NULL ELSE owner_admission(${input.ownerId}, ${[...TERMINAL_STATUSES]}::text[]) END AS active
    ), created AS (
      INSERT INTO executions (id, owner_id, language, language_version, script, stdin, limits, status, workflow_id, correlation_id,
                              retry_of_id, idempotency_key, request_hash, traceparent, callback_url, event_seq, created_at, updated_at)
      SELECT ${input.id}::uuid, ${input.ownerId}, ${input.language}, ${input.version}, ${input.script}, ${input.stdin},
             ${JSON.stringify(input.limits)}::jsonb, 'queued', ${input.id}, ${input.correlationId}, ${input.retryOfId ?? null}::uuid,
             ${input.idempotencyKey ?? null}, ${input.requestHash ?? null}, ${traceparent}, ${input.callbackUrl ?? null}, 1,
             ${at}::timestamptz, ${at}::timestamptz
        FROM gate WHERE gate.active IS NULL OR gate.active < ${ownerQuota}::int
      ON CONFLICT DO NOTHING
      RETURNING ${EXECUTION_FIELDS}
    ), ${writes}
    SELECT gate.active, created.* FROM gate LEFT JOIN created ON true LEFT JOIN woken ON true`;
  if (!outcome) throw new Error(`creating execution ${input.id} returned no row`);
  const { active, ...execution } = outcome;
  if (execution.id !== null) return { created: true, execution };
  if (ownerQuota !== null && active !== null && active >= ownerQuota) throw new OwnerQuotaExceededError(input.ownerId, active, ownerQuota);
  return { created: false, execution: null };
}

/**
 * Applies one guarded status change: the row update (checked against `from`), one audit row and one
 * outbox event, in one transaction. A transition already applied returns `applied: false`; any other
 * disallowed change throws {@link TransitionRefusedError} and writes nothing.
 */
export async function applyTransition(db: Db, req: TransitionRequest): Promise<TransitionResult> {
  return db.$transaction(async (tx) => {
    // Lock the row first: transitions of one execution are serialized, and `from` is known exactly. One round
    // trip reads the state and the id of the latest event (the cause of this one) under the lock.
    const [current] = await tx.$queryRaw<Array<{ status: ExecutionStatus; cause_id: string | null }>>`
      SELECT e.status::text AS status, o.id::text AS cause_id
        FROM executions e LEFT JOIN outbox_events o ON o.execution_id = e.id AND o.sequence = e.event_seq
       WHERE e.id = ${req.executionId}::uuid
         FOR UPDATE OF e`;
    if (!current) throw new TransitionRefusedError(req.executionId, req.from, req.to, null);
    if (!req.from.includes(current.status) || !canTransition(current.status, req.to)) {
      const alreadyApplied =
        current.status === req.to &&
        (await tx.executionTransition.count({ where: { executionId: req.executionId, toStatus: req.to } })) > 0;
      if (alreadyApplied) return { execution: await tx.execution.findUniqueOrThrow({ where: { id: req.executionId } }), applied: false };
      throw new TransitionRefusedError(req.executionId, req.from, req.to, current.status);
    }
    const execution = await tx.execution.update({
      where: { id: req.executionId },
      data: { status: req.to, eventSeq: { increment: 1 }, ...req.fields },
    });
    const cause = current.cause_id ? { id: current.cause_id } : null;
    const type = EVENT_FOR_STATUS[req.to];
    const envelope = buildEnvelope({
      type,
      aggregateId: execution.id,
      correlationId: execution.correlationId,
      causationId: cause?.id ?? null,
      producer: req.producer,
      payload: payloadFor(type, execution, req),
    });
    await writeEventAndAudit(tx, {
      executionId: execution.id,
      sequence: execution.eventSeq,
      envelope,
      traceparent: execution.traceparent,
      from: current.status,
      to: req.to,
      actor: req.actor,
      reason: req.reason ?? null,
    });
    return { execution, applied: true };
  });
}

/** What a status change writes beside its row. */
interface EventWrite {
  executionId: string;
  sequence: number;
  envelope: EventEnvelope;
  traceparent: string | null;
  from: ExecutionStatus | null;
  to: ExecutionStatus;
  actor: string;
  reason: string | null;
  /** When the change happened: the event's and the audit row's time. */
  at: Date;
}

/**
 * The CTEs `event`, `audit` and `woken` of a raw statement: the outbox event, its audit row and both wake-ups
 * (the relay's and the API's execution feed), each written once per row of `source` (`Prisma.empty`: once).
 * Raw, so that every status change is one round trip with none of Prisma's per-query compiling.
 */
function eventWrites(a: EventWrite, source: Prisma.Sql): Prisma.Sql {
  // Kafka headers: the request's trace continues through every event of the execution.
  const headers = a.traceparent ? { traceparent: childTraceparent(a.traceparent) } : {};
  return Prisma.sql`event AS (
      INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope, headers, created_at, next_attempt_at)
      SELECT ${a.envelope.event_id}::uuid, ${a.executionId}::uuid, ${a.sequence}::int, ${a.envelope.event_type},
             ${JSON.stringify(a.envelope)}::jsonb, ${JSON.stringify(headers)}::jsonb, ${a.at}::timestamptz, ${a.at}::timestamptz
        ${source}
    ), audit AS (
      INSERT INTO execution_transitions (id, execution_id, from_status, to_status, at, actor, reason, event_id)
      SELECT ${uuidv7()}::uuid, ${a.executionId}::uuid, ${a.from}::"ExecutionStatus", ${a.to}::"ExecutionStatus",
             ${a.at}::timestamptz, ${a.actor}, ${a.reason}, ${a.envelope.event_id}::uuid
        ${source}
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, ''), pg_notify(${EXECUTION_CHANGES_CHANNEL}, ${a.executionId}) ${source}
    )`;
}

/** A transition's event, audit row and wake-ups, in its transaction: one statement. */
async function writeEventAndAudit(tx: Tx, a: Omit<EventWrite, 'at'>): Promise<void> {
  // Stamped now, under the row lock, as Prisma stamps its defaults — not with the column default, now(), which
  // is the transaction's start: a transition that waited for the lock would read as older than the one before it.
  await tx.$executeRaw`WITH ${eventWrites({ ...a, at: new Date() }, Prisma.empty)} SELECT 1 FROM woken`;
}

function payloadFor(type: EventType, e: Execution, req: TransitionRequest): EventPayload<EventType> {
  switch (type) {
    case 'execution_started':
      return { execution_id: e.id, started_at: (e.startedAt ?? new Date()).toISOString() };
    case 'execution_cancelled':
      return { execution_id: e.id, reason: req.reason ?? null, actor: req.actor, cancelled_at: (e.finishedAt ?? new Date()).toISOString() };
    case 'execution_completed':
    case 'execution_failed':
    case 'execution_timeout':
      return {
        execution_id: e.id,
        status: e.status as 'completed' | 'failed' | 'timed_out' | 'error',
        exit_code: e.exitCode,
        signal: e.signal,
        error_type: e.errorType as ErrorType | null,
        error_message: e.errorMessage,
        wall_time_ms: e.wallTimeMs,
        cpu_time_ms: e.cpuTimeMs,
        peak_memory_kb: e.peakMemoryKb,
        oom_killed: e.oomKilled,
        sandboxed: e.sandboxed,
        stdout_truncated: e.stdoutTruncated,
        stderr_truncated: e.stderrTruncated,
        finished_at: (e.finishedAt ?? new Date()).toISOString(),
      };
    case 'execution_requested':
      throw new Error('execution_requested is written by createExecution, not by a transition');
  }
}

/** An execution's audit trail, oldest first. */
export const transitionsOf = (db: Db, executionId: string) => db.executionTransition.findMany({ where: { executionId }, orderBy: { at: 'asc' } });
