import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { v7 as uuidv7 } from 'uuid';
import type { NormalizedExecutionRequest } from '../../domain/execution-request';
import { isTerminal } from '../../domain/execution-status';
import type { ExecutionStatus } from '../../domain/execution-status';
import type { RetryPresets } from '../../domain/retry-policies';
import { CANCEL_REQUESTED_SIGNAL, WORKFLOW_NAME } from '../../domain/saga';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/search-attributes';
import type { CancelRequest, ExecutionSagaInput } from '../../domain/saga';
import type { Execution } from '../../generated/prisma/client';
import type { Logger } from '../../observability/logger';
import { coerceError } from '../../observability/logger';
import { activeTraceparent, newTraceparent } from '../../observability/trace-context';
import { trace } from '@opentelemetry/api';
import { SpanAttr } from '../../observability/tracing';
import type { Db } from '../../store/db';
import type { Producer } from '../../store/envelope';
import { OwnerQuotaExceededError } from '../../store/errors';
import { executionExists, findExecution, getExecution, listExecutions } from '../../store/executions';
import type { ExecutionFilter } from '../../store/executions';
import { eventsOf } from '../../store/outbox';
import { deliveriesOf } from '../../store/webhook-deliveries';
import type { KeysetPosition } from '../../store/pagination';
import { pageOf } from '../../store/pagination';
import { createExecution, newExecutionFrom, transitionsOf } from '../../store/transitions';
import type { executionSaga } from '../../workflows/execution-saga';
import { missingSearchAttribute, unreachableDependency } from '../dependency-errors';
import { abandonUnstarted, startDeferred } from '../unstarted-executions';
import { sagaInputOf, sagaStartOptions, startSaga } from '../saga-start';
import type { SagaStartDeps, StartsInFlight } from '../saga-start';
import { idempotentExecutionId, requestHash } from '../idempotency';
import { liveState } from '../live-state';
import { dependencyUnavailable, HttpError, notFound, toHttpError } from '../problem';
import { ADMITTED, type Admission } from '../rate-limits';
import { timed } from '../../observability/request-timing';

export interface ExecutionServiceDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  retryPresets: RetryPresets;
  producer: Producer;
  /**
   * Workflow run timeout and outage pause of each saga started, the longest wait for Temporal to accept a start,
   * ms, and whether a submission waits for it (config SAGA_RUN_TIMEOUT_MS, SAGA_OUTAGE_PAUSE_MS,
   * SAGA_START_TIMEOUT_MS, SAGA_START).
   */
  saga: SagaStartDeps['saga'];
  /** Owners' webhook secrets: a `callbackUrl` is accepted only from an owner that has one. Absent: refused. */
  webhookSecrets?: { status(ownerId: string): Promise<unknown> };
  /** Where deferred starts are counted, for a stopping API to wait for them. */
  startsInFlight?: StartsInFlight;
}

/** Who submits, and what travels with the submission (from the request's headers). */
export interface Submission {
  ownerId: string;
  /** Recorded in the audit trail as who asked: the API key (`key:<prefix>`). */
  actor: string;
  idempotencyKey: string | null;
  correlationId: string | null;
  traceparent: string | null;
}

export interface Submitted {
  execution: Execution;
  /** The Idempotency-Key had already made this execution: nothing new was started. */
  replayed: boolean;
}

/** One batch item: a request, or why it could not be read. */
export type BatchItem = { request: NormalizedExecutionRequest } | { invalid: HttpError };
export type BatchOutcome = { index: number } & ({ submitted: Submitted } | { problem: HttpError });

/** The 409 of a cancel that finds its execution ended. */
const alreadyEnded = (status: ExecutionStatus, detail: string) => new HttpError(409, 'execution-terminal', 'Conflict', detail, { status_of_execution: status });

/** Most submissions of one batch started at once. */
const BATCH_CONCURRENCY = 8;
/**
 * Executions as the API offers them: submit (alone or in a batch), retry, cancel and read. Starts sagas by
 * name (the API never loads workflow code) and reads and writes through the store.
 */
export function createExecutionService(deps: ExecutionServiceDeps) {
  const { db } = deps;

  /** `scope`: the only owner whose executions the caller may see (null: all); another's is "not found". */
  const existing = async (id: string, scope: string | null): Promise<Execution> => {
    const execution = await findExecution(db, id, scope);
    if (!execution) throw notFound(`execution ${id}`);
    return execution;
  };

  /** A webhook is signed with its owner's secret: without one it could not be verified, so it is refused up front. */
  async function requireWebhookSecret(ownerId: string): Promise<void> {
    if (deps.webhookSecrets && (await deps.webhookSecrets.status(ownerId)) !== null) return;
    throw new HttpError(422, 'webhook-secret-missing', 'No webhook secret', `owner ${ownerId} has no webhook signing secret: create one with POST /api/v1/webhook-secret, then send callbackUrl`, { errors: [{ field: 'callbackUrl', message: 'the owner has no webhook signing secret' }] });
  }

  /**
   * The saga of an execution whose row is written: started by the execution id, idempotently (a saga already
   * started under that id is the one). When the start fails, `onFailure` says what becomes of the row:
   * `abandon` records it as `error` at once (nobody can ask for it again), `keep` leaves it `queued` for a
   * retry of the same request (same Idempotency-Key) to start — or, past UNSTARTED_EXECUTION_GRACE_MS, for
   * the sweeper (api/unstarted-executions.ts) to record as `error`. A start that failed ambiguously (a timeout)
   * may have started the saga anyway: it then finds the row `error` and refuses to run (queued → running is
   * refused), or, with `keep`, it runs what the row says and a retry of the request answers it.
   * Returns the row when the start failed but the saga turned out to be running (the request succeeded).
   * @throws HttpError 503 (Temporal does not answer), or the start's own error.
   */
  async function launch(input: ExecutionSagaInput, onFailure: 'abandon' | 'keep', log: Logger): Promise<Execution | null> {
    try {
      await timed('temporal', () => startSaga(deps, input)); // `already`: started by a request of the same Idempotency-Key
      return null;
    } catch (err) {
      log.warn({ err: coerceError(err), execution_id: input.executionId, on_failure: onFailure }, 'saga not started');
      if (onFailure === 'abandon') {
        const now = await abandonUnstarted(db, input.executionId, deps.producer, log);
        // The ambiguous start did start it, and it already moved on: it runs, so the request succeeded.
        if (now && !isTerminal(now.status) && now.status !== 'queued') return now;
      }
      const down = unreachableDependency(err);
      if (down) throw dependencyUnavailable(down, `execution ${input.executionId} was not started`);
      const unregistered = missingSearchAttribute(err);
      if (unregistered) throw new HttpError(503, 'temporal-namespace-not-set-up', 'Service Unavailable', `execution ${input.executionId} was not started: ${unregistered} (an operator registers the search attributes ${Object.values(SEARCH_ATTRIBUTE_NAMES).join(', ')} in the namespace once)`);
      throw err;
    }
  }

  /**
   * SAGA_START=deferred: starts the saga of a committed row without the request waiting for it. A start that
   * does not happen here (Temporal does not answer, the process dies) is the sweep's (api/unstarted-executions.ts).
   */
  function startAfterAnswer(input: ExecutionSagaInput, log: Logger): void {
    const started = startDeferred({ db, producer: deps.producer, starting: deps }, input, log);
    deps.startsInFlight?.track(started);
  }

  /**
   * Writes the row (queued, with its audit row and `execution_requested`, in one transaction), then starts the
   * saga (SAGA_START=deferred: sets its start going and answers). Row first: a request that fails before the start
   * (Postgres down) has started nothing, and a saga never runs without its row; see {@link launch} for a start
   * that fails. Returns the row as written (read before the start, so that nothing after a started saga can fail
   * the request) and whether this call wrote it (false: a request of the same Idempotency-Key did, and started
   * its saga). Execution ids are never reused. `admission.admitted` is called once the row is written: the
   * owner's quota counts it from then on.
   * @throws OwnerQuotaExceededError past `admission.ownerQuota` (nothing written).
   */
  async function start(input: ExecutionSagaInput, actor: string, onFailure: 'abandon' | 'keep', log: Logger, admission: Admission): Promise<{ execution: Execution; created: boolean }> {
    trace.getActiveSpan()?.setAttributes({ [SpanAttr.executionId]: input.executionId, [SpanAttr.ownerId]: input.ownerId, [SpanAttr.language]: input.language, [SpanAttr.correlationId]: input.correlationId, [SpanAttr.status]: 'queued' });
    const { created, execution: written } = await createExecution(db, newExecutionFrom(input), actor, deps.producer, admission.ownerQuota);
    admission.admitted();
    const execution = written ?? (await getExecution(db, input.executionId));
    if (!created) return { execution, created };
    if (deps.saga.start === 'deferred') {
      startAfterAnswer(input, log);
      log.info({ execution_id: input.executionId, correlation_id: input.correlationId, retry_of: input.retryOfId }, 'execution accepted; its saga is starting');
      return { execution, created };
    }
    const moved = await launch(input, onFailure, log);
    log.info({ execution_id: input.executionId, correlation_id: input.correlationId, retry_of: input.retryOfId }, 'execution started');
    return { execution: moved ?? execution, created };
  }

  /**
   * The queued row of an Idempotency-Key, whose first request may not have started its saga: started now
   * (idempotent; SAGA_START=deferred: set going again unless its start was seen, and not waited for).
   */
  async function ensureStarted(row: Execution, log: Logger): Promise<Execution> {
    if (row.status !== 'queued') return row;
    if (deps.saga.start === 'deferred') {
      if (row.sagaStartedAt === null) startAfterAnswer(sagaInputOf(row, row.id, deps), log);
      return row;
    }
    return (await launch(sagaInputOf(row, row.id, deps), 'keep', log)) ?? row;
  }

  /**
   * Starts an execution, or finds the one its Idempotency-Key already made (starting its saga if the request
   * that made it could not). `admission`: see {@link start} (`admitted` also called when no row is written).
   * @throws HttpError 422 (key reused with another request), 503 (Postgres or Temporal does not answer).
   */
  async function submit(request: NormalizedExecutionRequest, s: Submission, log: Logger, admission: Admission = ADMITTED): Promise<Submitted> {
    const { ownerId, idempotencyKey } = s;
    const hash = idempotencyKey ? requestHash(request) : null;
    const id = idempotencyKey ? idempotentExecutionId(ownerId, idempotencyKey) : uuidv7();

    const replay = async (found: Execution): Promise<Submitted> => {
      if (found.requestHash !== hash) {
        throw new HttpError(422, 'idempotency-key-reused', 'Idempotency-Key reused', `Idempotency-Key ${idempotencyKey} was already used with a different request (execution ${found.id})`);
      }
      return { execution: await ensureStarted(found, log), replayed: true };
    };
    if (idempotencyKey) {
      const found = await findExecution(db, id);
      if (found) {
        admission.admitted();
        return replay(found);
      }
    }
    if (request.callbackUrl !== undefined) await requireWebhookSecret(ownerId);
    const correlationId = s.correlationId ?? id;
    // The request's span (a child of the caller's traceparent when one came): events and the saga continue it.
    const traceparent = activeTraceparent() ?? s.traceparent ?? newTraceparent();
    const input: ExecutionSagaInput = { executionId: id, ownerId, correlationId, retryOfId: null, idempotencyKey, requestHash: hash, traceparent, ...request, retryPresets: deps.retryPresets, outagePauseMs: deps.saga.outagePauseMs };
    // Without a key nobody can ask for this execution again: a saga that cannot start is recorded as `error` at once.
    const { execution, created } = await start(input, s.actor, idempotencyKey ? 'keep' : 'abandon', log, admission);
    // Only a request with the same Idempotency-Key can have written this id meanwhile: answer as that one is answered.
    return created ? { execution, replayed: false } : replay(execution);
  }

  /**
   * Submits each item on its own, at most {@link BATCH_CONCURRENCY} at once, answering per item in order. An
   * Idempotency-Key covers the batch: item i uses `<key>#<i>`, so a repeated batch replays item by item.
   * `admission.admitted` is called once every item has written its row or ended.
   */
  async function submitBatch(items: readonly BatchItem[], s: Submission, log: Logger, admission: Admission = ADMITTED): Promise<BatchOutcome[]> {
    const outcomes = new Array<BatchOutcome>(items.length);
    let unsettled = items.length;
    const one = async (item: BatchItem, index: number): Promise<BatchOutcome> => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        if (--unsettled === 0) admission.admitted();
      };
      try {
        if ('invalid' in item) return { index, problem: item.invalid };
        return { index, submitted: await submit(item.request, { ...s, idempotencyKey: s.idempotencyKey ? `${s.idempotencyKey}#${index}` : null }, log, { ownerQuota: admission.ownerQuota, admitted: settle }) };
      } catch (err) {
        // Only a batch of one valid item has its quota checked by its insert (api/rate-limits.ts): a refusal
        // refuses the batch, as any batch past a limit starts nothing.
        if (err instanceof OwnerQuotaExceededError) throw err;
        const problem = toHttpError(err);
        if (problem.status >= 500) log.error({ err: coerceError(err), batch_index: index }, 'batch item failed');
        return { index, problem };
      } finally {
        settle();
      }
    };
    // Lanes share one iterator over the items: each takes the next as it becomes free.
    const pending = items.entries();
    const lane = async () => {
      for (const [index, item] of pending) outcomes[index] = await one(item, index);
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, items.length) }, lane));
    return outcomes;
  }

  /**
   * Runs a finished execution again as a new execution (same script, limits, owner) linked by `retryOf`.
   * `admission`: see {@link start}.
   * @throws HttpError 404 (unknown, or not in `scope`), 409 (not finished).
   */
  async function retry(id: string, scope: string | null, s: Pick<Submission, 'actor' | 'correlationId' | 'traceparent'>, log: Logger, admission: Admission = ADMITTED): Promise<Execution> {
    const previous = await existing(id, scope);
    if (!isTerminal(previous.status)) {
      throw new HttpError(409, 'execution-not-finished', 'Conflict', `execution ${id} is still ${previous.status}; only a finished execution can be retried`, { status_of_execution: previous.status });
    }
    const newId = uuidv7();
    const input: ExecutionSagaInput = { ...sagaInputOf(previous, newId, deps), correlationId: s.correlationId ?? newId, retryOfId: previous.id, idempotencyKey: null, requestHash: null, traceparent: activeTraceparent() ?? s.traceparent ?? newTraceparent() };
    return (await start(input, s.actor, 'abandon', log, admission)).execution;
  }

  /**
   * Asks the saga of a queued or running execution to cancel (actor and reason first, then Temporal's cancel):
   * it kills the run, releases capacity and records `cancelled`. Idempotent. Returns the execution as read.
   * @throws HttpError 404 (unknown, or not in `scope`), 409 (already ended otherwise).
   */
  async function cancel(id: string, scope: string | null, request: CancelRequest, log: Logger): Promise<Execution> {
    const execution = await existing(id, scope);
    if (execution.status === 'cancelled') return execution;
    if (isTerminal(execution.status)) throw alreadyEnded(execution.status, `execution ${id} is already ${execution.status}; only queued or running executions can be cancelled`);
    const handle = deps.temporal.workflow.getHandle(execution.workflowId);
    try {
      await timed('temporal', async () => {
        await handle.signal(CANCEL_REQUESTED_SIGNAL, request);
        await handle.cancel();
      });
      log.info({ actor: request.actor, reason: request.reason }, 'cancel requested');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const now = await getExecution(db, id);
      // No saga yet (a deferred start on its way, or a start that failed): started with the cancel already asked.
      if (now.status === 'queued') await cancelBeforeStart(now, request, log);
      // The saga ended between our read and the cancel: report what it ended as.
      else if (now.status !== 'cancelled') throw alreadyEnded(now.status, `execution ${id} is already ${now.status}`);
    }
    return execution;
  }

  /**
   * Cancels a queued execution that has no saga by starting its saga with the cancel already signalled, then
   * cancelling it: the saga's own cancel path records `cancelled` (and sends the webhook), as for any other
   * cancel, and a start racing this one finds the same saga.
   * @throws HttpError 409 when a saga of that id has ended meanwhile, otherwise what Temporal threw.
   */
  async function cancelBeforeStart(row: Execution, request: CancelRequest, log: Logger): Promise<void> {
    try {
      await timed('temporal', async () => {
        await deps.temporal.workflow.signalWithStart<typeof executionSaga, [CancelRequest]>(WORKFLOW_NAME, {
          ...sagaStartOptions(deps, sagaInputOf(row, row.id, deps)),
          signal: CANCEL_REQUESTED_SIGNAL,
          signalArgs: [request],
        });
        await deps.temporal.workflow.getHandle(row.workflowId).cancel();
      });
      log.info({ actor: request.actor, reason: request.reason }, 'cancel requested before the saga had started');
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const now = await getExecution(db, row.id);
      if (now.status !== 'cancelled') throw alreadyEnded(now.status, `execution ${row.id} is already ${now.status}`);
    }
  }

  return {
    submit,
    submitBatch,
    retry,
    cancel,

    /** One execution, with what its saga is doing now while it has not ended. @throws HttpError 404 (unknown, or not in `scope`). */
    async get(id: string, scope: string | null, log: Logger) {
      const execution = await existing(id, scope);
      const [live, webhookDeliveries] = await Promise.all([
        isTerminal(execution.status) ? null : timed('temporal', () => liveState(deps.temporal, execution.workflowId, log)),
        execution.callbackUrl === null ? [] : deliveriesOf(db, id),
      ]);
      return { execution, live, webhookDeliveries };
    },

    /** A page, newest first, after a keyset position. */
    async list(filter: ExecutionFilter, after: KeysetPosition | null, limit: number) {
      return pageOf(await listExecutions(db, filter, after, limit + 1), limit);
    },

    /** The audit trail and the events it emitted, with their publish state. @throws HttpError 404 (unknown, or not in `scope`). */
    async history(id: string, scope: string | null) {
      if (!(await executionExists(db, id, scope))) throw notFound(`execution ${id}`);
      const [transitions, events, webhookDeliveries] = await Promise.all([transitionsOf(db, id), eventsOf(db, id), deliveriesOf(db, id)]);
      return { transitions, events, webhookDeliveries };
    },
  };
}

export type ExecutionService = ReturnType<typeof createExecutionService>;
