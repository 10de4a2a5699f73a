import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { EVENT_FOR_STATUS } from '../domain/events';
import type { EventEnvelope, EventType } from '../domain/events';
import { canTransition, TERMINAL_STATUSES } from '../domain/execution-status';
import type { ErrorType, ExecutionStatus } from '../domain/execution-status';
import type { NormalizedExecutionRequest } from '../domain/execution-request';
import type { ExecutionSagaInput } from '../domain/saga';
import { Prisma, type Execution } from '../generated/prisma/client';
import { queryRows, type Db } from './db';
import { EXECUTION_FIELDS, findExecution } from './executions';
import { activeTraceparent, childTraceparent, traceIdOf } from '../observability/trace-context';
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
  const at = new Date(); // stamped here, not with the column default now(), as a transition stamps its own (applyTransition)
  // Kafka headers: the request's trace continues through every event of the execution.
  const headers: Record<string, string> = traceparent ? { traceparent: childTraceparent(traceparent) } : {};
  const writes = eventWrites(
    { executionId: input.id, eventId: envelope.event_id, eventType: envelope.event_type, sequence: 1, envelope, headers, from: null, to: 'queued', actor, reason: null, at },
    Prisma.sql`FROM created`,
    // No event stream can be listening yet: a stream answers 404 until the row exists, and reads it after subscribing.
    { feed: false },
  );
  const [outcome] = await queryRows<Execution & { active: number | null }>(db, Prisma.sql`
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
    SELECT gate.active, created.* FROM gate LEFT JOIN created ON true LEFT JOIN woken ON true`);
  if (!outcome) throw new Error(`creating execution ${input.id} returned no row`);
  const { active, ...execution } = outcome;
  if (execution.id !== null) return { created: true, execution };
  if (ownerQuota !== null && active !== null && active >= ownerQuota) throw new OwnerQuotaExceededError(input.ownerId, active, ownerQuota);
  return { created: false, execution: null };
}

/** Each result field's column and SQL type, for the transition's SET clause. */
const RESULT_COLUMNS: Record<keyof ResultFields, [column: string, type: string]> = {
  exitCode: ['exit_code', 'int'],
  signal: ['signal', 'text'],
  stdout: ['stdout', 'text'],
  stdoutTruncated: ['stdout_truncated', 'boolean'],
  stderr: ['stderr', 'text'],
  stderrTruncated: ['stderr_truncated', 'boolean'],
  wallTimeMs: ['wall_time_ms', 'int'],
  cpuTimeMs: ['cpu_time_ms', 'int'],
  peakMemoryKb: ['peak_memory_kb', 'int'],
  oomKilled: ['oom_killed', 'boolean'],
  sandboxed: ['sandboxed', 'boolean'],
  errorType: ['error_type', 'text'],
  errorMessage: ['error_message', 'text'],
  startedAt: ['started_at', 'timestamptz'],
  finishedAt: ['finished_at', 'timestamptz'],
};

/** A timestamptz column as JavaScript's toISOString writes it (the columns hold milliseconds). */
const iso = (column: string) => Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

/**
 * The payload of a transition's event, as SQL over the updated row `changed`, so that the event says what the
 * row says: the schemas are eventPayloadSchemas (domain/events.ts); a time not set is the transition's.
 */
function payloadSql(type: EventType, req: TransitionRequest): Prisma.Sql {
  const orAt = (column: string) => Prisma.sql`COALESCE(${iso(column)}, ${iso('changed.updated_at')})`;
  switch (type) {
    case 'execution_started':
      return Prisma.sql`jsonb_build_object('execution_id', changed.id, 'started_at', ${orAt('changed.started_at')})`;
    case 'execution_cancelled':
      return Prisma.sql`jsonb_build_object('execution_id', changed.id, 'reason', ${req.reason ?? null}::text, 'actor', ${req.actor}::text, 'cancelled_at', ${orAt('changed.finished_at')})`;
    case 'execution_completed':
    case 'execution_failed':
    case 'execution_timeout':
      return Prisma.sql`jsonb_build_object('execution_id', changed.id, 'status', changed.status, 'exit_code', changed.exit_code,
        'signal', changed.signal, 'error_type', changed.error_type, 'error_message', changed.error_message,
        'wall_time_ms', changed.wall_time_ms, 'cpu_time_ms', changed.cpu_time_ms, 'peak_memory_kb', changed.peak_memory_kb,
        'oom_killed', changed.oom_killed, 'sandboxed', changed.sandboxed, 'stdout_truncated', changed.stdout_truncated,
        'stderr_truncated', changed.stderr_truncated, 'finished_at', ${orAt('changed.finished_at')})`;
    case 'execution_requested':
      throw new Error('execution_requested is written by createExecution, not by a transition');
  }
}

/**
 * Applies one guarded status change: the row update (checked against `from`), one audit row and one
 * outbox event, atomically. A transition already applied returns `applied: false`; any other
 * disallowed change throws {@link TransitionRefusedError} and writes nothing.
 *
 * One statement, so one round trip and no interactive transaction: it locks the row, reads its state and the
 * id of its latest event (the cause of this one), updates it only from an allowed state, and writes the event
 * (its envelope built over the updated row), the audit row and the wake-ups from the update's result.
 */
export async function applyTransition(db: Db, req: TransitionRequest): Promise<TransitionResult> {
  const allowedFrom = req.from.filter((status) => canTransition(status, req.to));
  const type = EVENT_FOR_STATUS[req.to];
  const sets = Object.entries(req.fields ?? {})
    .filter(([, value]) => value !== undefined)
    .map(([field, value]) => {
      const [column, sqlType] = RESULT_COLUMNS[field as keyof ResultFields];
      return Prisma.sql`${Prisma.raw(column)} = ${value}::${Prisma.raw(sqlType)}`;
    });
  // What the row decides (correlation, cause, payload, time) is filled in by the statement.
  const envelope = buildEnvelope({ type, aggregateId: req.executionId, correlationId: '', causationId: null, producer: req.producer, payload: {} as never });
  // Kafka headers, as childTraceparent makes them: the active span when it is in the row's trace, else a new
  // parent id in that trace.
  const active = activeTraceparent();
  const headers = Prisma.sql`CASE WHEN changed.traceparent IS NULL THEN '{}'::jsonb
      WHEN split_part(changed.traceparent, '-', 2) = ${active ? traceIdOf(active) : null}::text THEN jsonb_build_object('traceparent', ${active}::text)
      ELSE jsonb_build_object('traceparent', overlay(changed.traceparent PLACING ${randomBytes(8).toString('hex')} FROM 37 FOR 16)) END`;
  const writes = eventWrites(
    {
      executionId: req.executionId,
      eventId: envelope.event_id,
      eventType: type,
      sequence: Prisma.sql`changed.event_seq`,
      envelope: Prisma.sql`${JSON.stringify(envelope)}::jsonb || jsonb_build_object('occurred_at', ${iso('changed.updated_at')},
        'correlation_id', changed.correlation_id, 'causation_id', locked.cause_id, 'payload', ${payloadSql(type, req)})`,
      headers,
      from: Prisma.sql`locked.locked_status`,
      to: req.to,
      actor: req.actor,
      reason: req.reason ?? null,
      at: Prisma.sql`changed.updated_at`,
    },
    Prisma.sql`FROM changed, locked`,
  );
  const [row] = await queryRows<Execution & { current: ExecutionStatus | null }>(db, Prisma.sql`
    WITH locked AS (
      SELECT e.id AS locked_id, e.status AS locked_status, o.id::text AS cause_id
        FROM executions e LEFT JOIN outbox_events o ON o.execution_id = e.id AND o.sequence = e.event_seq
       WHERE e.id = ${req.executionId}::uuid
         FOR UPDATE OF e
    ), changed AS (
      -- Stamped once the row lock is granted (clock_timestamp, not now(): that is when the statement began, and
      -- a transition that waited for the lock would read as older than the one before it).
      UPDATE executions e SET status = ${req.to}::"ExecutionStatus", event_seq = e.event_seq + 1, updated_at = clock_timestamp()
             ${sets.length > 0 ? Prisma.sql`, ${Prisma.join(sets)}` : Prisma.empty}
        FROM locked
       WHERE e.id = locked.locked_id AND locked.locked_status::text = ANY(${allowedFrom}::text[])
      RETURNING e.*
    ), ${writes}
    SELECT locked.locked_status::text AS current, ${EXECUTION_FIELDS}
      FROM locked LEFT JOIN changed ON true LEFT JOIN woken ON true`);
  if (!row) throw new TransitionRefusedError(req.executionId, req.from, req.to, null);
  const { current, ...execution } = row;
  if (execution.id !== null) return { execution, applied: true };
  // Refused: recognised as a retry of this very transition when the row is in its target state and the audit
  // trail has it (read after the refusal: a committed transition stays).
  if (current === req.to && (await queryRows(db, Prisma.sql`SELECT 1 FROM execution_transitions WHERE execution_id = ${req.executionId}::uuid AND to_status = ${req.to}::"ExecutionStatus" LIMIT 1`)).length > 0) {
    const now = await findExecution(db, req.executionId);
    if (now) return { execution: now, applied: false };
  }
  throw new TransitionRefusedError(req.executionId, req.from, req.to, current);
}

/** What a status change writes beside its row: each value a parameter, or SQL over the statement's source rows. */
interface EventWrite {
  executionId: string;
  eventId: string;
  eventType: EventType;
  sequence: number | Prisma.Sql;
  envelope: EventEnvelope | Prisma.Sql;
  headers: Record<string, string> | Prisma.Sql;
  from: ExecutionStatus | null | Prisma.Sql;
  to: ExecutionStatus;
  actor: string;
  reason: string | null;
  /** When the change happened: the event's and the audit row's time. */
  at: Date | Prisma.Sql;
}

const sqlOr = (value: unknown, cast: string): Prisma.Sql => (value instanceof Prisma.Sql ? value : Prisma.sql`${value}::${Prisma.raw(cast)}`);
const jsonOr = (value: unknown): Prisma.Sql => (value instanceof Prisma.Sql ? value : Prisma.sql`${JSON.stringify(value)}::jsonb`);

/**
 * The CTEs `event`, `audit` and `woken` of a raw statement: the outbox event, its audit row and the wake-ups
 * (the relay's, and with `feed` the API's execution feed), each written once per row of `source`.
 * Raw, so that every status change is one round trip with none of Prisma's per-query compiling.
 */
function eventWrites(a: EventWrite, source: Prisma.Sql, { feed }: { feed: boolean } = { feed: true }): Prisma.Sql {
  const feedWake = feed ? Prisma.sql`, pg_notify(${EXECUTION_CHANGES_CHANNEL}, ${a.executionId})` : Prisma.empty;
  return Prisma.sql`event AS (
      INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope, headers, created_at, next_attempt_at)
      SELECT ${a.eventId}::uuid, ${a.executionId}::uuid, ${sqlOr(a.sequence, 'int')}, ${a.eventType},
             ${jsonOr(a.envelope)}, ${jsonOr(a.headers)}, ${sqlOr(a.at, 'timestamptz')}, ${sqlOr(a.at, 'timestamptz')}
        ${source}
    ), audit AS (
      INSERT INTO execution_transitions (id, execution_id, from_status, to_status, at, actor, reason, event_id)
      SELECT ${uuidv7()}::uuid, ${a.executionId}::uuid, ${sqlOr(a.from, '"ExecutionStatus"')}, ${a.to}::"ExecutionStatus",
             ${sqlOr(a.at, 'timestamptz')}, ${a.actor}, ${a.reason}, ${a.eventId}::uuid
        ${source}
    ), woken AS (
      SELECT pg_notify(${OUTBOX_CHANNEL}, '')${feedWake} ${source}
    )`;
}

/** An execution's audit trail, oldest first. */
export const transitionsOf = (db: Db, executionId: string) => db.executionTransition.findMany({ where: { executionId }, orderBy: { at: 'asc' } });
