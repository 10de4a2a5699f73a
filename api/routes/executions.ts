import { Router } from 'express';
import type { Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { createExecutionRequestSchema, normalizeExecutionRequest } from '../../domain/execution-request';
import { LANGUAGES } from '../../domain/runtimes';
import type { Language, RunLimits } from '../../domain/runtimes';
import type { RetryPresets } from '../../domain/retry-policies';
import { CANCEL_REQUESTED_SIGNAL, WORKFLOW_NAME } from '../../domain/saga';
import type { CancelRequest, ExecutionSagaInput } from '../../domain/saga';
import { ExecutionStatus, isTerminal } from '../../domain/execution-status';
import type { executionSaga } from '../../workflows/execution-saga';
import type { Db } from '../../store/db';
import type { Producer } from '../../store/envelope';
import { createExecution, newExecutionFrom } from '../../store/transitions';
import type { Execution } from '../../generated/prisma/client';
import { executionView } from '../execution-view';
import { idempotentExecutionId, requestHash } from '../idempotency';
import { newTraceparent } from '../../observability/trace-context';
import type { Logger } from '../../observability/logger';
import { coerceError } from '../../observability/logger';
import { afterPosition, decodeCursor, encodeCursor } from '../cursor';
import { liveState } from '../live-state';
import { correlationSchema, executionIdOf, headerValue, idempotencyKeySchema, optionalJsonBody, ownerOf, requiredJsonBody, ownerSchema, traceparentSchema } from '../request-parts';
import { HttpError, fieldErrorsOf, notFound, problemBody, toHttpError, validationError } from '../problem';

export interface ExecutionRoutesDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  limitMaxima: RunLimits;
  retryPresets: RetryPresets;
  producer: Producer;
  log: Logger;
  /** Workflow run timeout and outage pause of each saga started, ms (config SAGA_RUN_TIMEOUT_MS, SAGA_OUTAGE_PAUSE_MS). */
  saga: { runTimeoutMs: number; outagePauseMs: number };
}

/** The row of a workflow another request just started: it is written right after the start. */
async function waitForRow(db: Db, id: string, deadlineMs = 3_000): Promise<Execution | null> {
  for (const until = Date.now() + deadlineMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    const row = await db.execution.findUnique({ where: { id } });
    if (row) return row;
  }
  return null;
}

/** Most submissions one batch may carry, and how many of them start at once. */
const BATCH_MAX = 100;
const BATCH_CONCURRENCY = 8;
const batchSchema = z.object({ items: z.array(z.unknown()).min(1).max(BATCH_MAX) }).strict();

/** Maps in order with at most `limit` calls in flight. */
async function mapWithConcurrency<T, R>(values: readonly T[], limit: number, fn: (value: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(values.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, values.length) }, async () => {
    for (let i = next++; i < values.length; i = next++) results[i] = await fn(values[i]!, i);
  });
  await Promise.all(lanes);
  return results;
}

const cancelBodySchema = z.object({ reason: z.string().max(1000).optional() }).strict();
const listQuerySchema = z
  .object({
    status: z.enum(Object.values(ExecutionStatus) as [ExecutionStatus, ...ExecutionStatus[]]).optional(),
    language: z.enum(LANGUAGES).optional(),
    owner: ownerSchema.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

export function executionRoutes(deps: ExecutionRoutesDeps): Router {
  const router = Router();
  const requestSchema = createExecutionRequestSchema(deps.limitMaxima);

  /**
   * Starts the saga, then writes the row. Workflow first: once it is started the request is durable, and the
   * saga creates the row itself if this process stops in between. Execution ids are never reused.
   */
  async function startExecution(input: ExecutionSagaInput): Promise<Execution> {
    await deps.temporal.workflow.start<typeof executionSaga>(WORKFLOW_NAME, {
      workflowId: input.executionId,
      taskQueue: deps.taskQueue,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowRunTimeout: deps.saga.runTimeoutMs,
    });
    await createExecution(deps.db, newExecutionFrom(input), `api:${input.ownerId}`, deps.producer);
    return deps.db.execution.findUniqueOrThrow({ where: { id: input.executionId } });
  }

  interface Submission {
    ownerId: string;
    idempotencyKey: string | null;
    correlationId: string | null;
    traceparent: string | null;
  }

  /**
   * Validates one request and starts its execution, or finds the one its Idempotency-Key already made.
   * @throws HttpError 400 (invalid), 422 (key reused with another request), 409 (same key still being accepted).
   */
  async function submit(body: unknown, s: Submission): Promise<{ execution: Execution; replayed: boolean }> {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    const request = normalizeExecutionRequest(parsed.data);
    const { ownerId, idempotencyKey } = s;
    const hash = idempotencyKey ? requestHash(request) : null;
    const id = idempotencyKey ? idempotentExecutionId(ownerId, idempotencyKey) : uuidv7();

    const replay = (existing: Execution) => {
      if (existing.requestHash !== hash) {
        throw new HttpError(422, 'idempotency-key-reused', 'Idempotency-Key reused', `Idempotency-Key ${idempotencyKey} was already used with a different request (execution ${existing.id})`);
      }
      return { execution: existing, replayed: true };
    };
    if (idempotencyKey) {
      const existing = await deps.db.execution.findUnique({ where: { id } });
      if (existing) return replay(existing);
    }
    const correlationId = s.correlationId ?? id;
    const traceparent = s.traceparent ?? newTraceparent();
    try {
      const execution = await startExecution({ executionId: id, ownerId, correlationId, retryOfId: null, idempotencyKey, requestHash: hash, traceparent, ...request, retryPresets: deps.retryPresets, outagePauseMs: deps.saga.outagePauseMs });
      return { execution, replayed: false };
    } catch (err) {
      // Only a request with the same Idempotency-Key can collide: answer as that one is answered.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || !idempotencyKey) throw err;
      const existing = await waitForRow(deps.db, id);
      if (!existing) throw new HttpError(409, 'request-in-progress', 'Conflict', `a request with Idempotency-Key ${idempotencyKey} is still being accepted; retry shortly`);
      return replay(existing);
    }
  }

  const submissionOf = (req: Request): Submission => ({
    ownerId: ownerOf(req),
    idempotencyKey: headerValue<string | null>(req, 'Idempotency-Key', idempotencyKeySchema, null),
    correlationId: headerValue<string | null>(req, 'X-Correlation-Id', correlationSchema, null),
    traceparent: headerValue(req, 'traceparent', traceparentSchema, null),
  });

  router.post('/executions', async (req, res) => {
    const { execution, replayed } = await submit(requiredJsonBody(req), submissionOf(req));
    res.location(`/api/v1/executions/${execution.id}`);
    if (replayed) res.status(200).set('Idempotent-Replayed', 'true');
    else res.status(201);
    res.json(executionView(execution));
  });

  /**
   * Up to {@link BATCH_MAX} submissions at once, each validated and started on its own: the answer lists, per
   * item, what `POST /executions` would have answered (201/200 with the execution, or a problem). An
   * Idempotency-Key header covers the batch: item i uses `<key>#<i>`, so a repeated batch replays item by item.
   */
  router.post('/executions/batch', async (req, res) => {
    const parsed = batchSchema.safeParse(requiredJsonBody(req));
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    const shared = submissionOf(req);
    const items = await mapWithConcurrency(parsed.data.items, BATCH_CONCURRENCY, async (item, index) => {
      try {
        const { execution, replayed } = await submit(item, { ...shared, idempotencyKey: shared.idempotencyKey ? `${shared.idempotencyKey}#${index}` : null });
        return { index, status: replayed ? 200 : 201, location: `/api/v1/executions/${execution.id}`, execution: executionView(execution) };
      } catch (err) {
        const problem = toHttpError(err);
        if (problem.status >= 500) deps.log.error({ err: coerceError(err), batch_index: index }, 'batch item failed');
        return { index, status: problem.status, problem: problemBody(problem, `${req.originalUrl}#${index}`) };
      }
    });
    res.json({ items, accepted: items.filter((i) => i.status < 300).length, failed: items.filter((i) => i.status >= 300).length });
  });

  /** Runs a finished execution again as a new execution (same script, limits, owner) linked by `retryOf`. */
  router.post('/executions/:id/retry', async (req, res) => {
    const id = executionIdOf(req);
    const previous = await deps.db.execution.findUnique({ where: { id } });
    if (!previous) throw notFound(`execution ${id}`);
    if (!isTerminal(previous.status)) {
      throw new HttpError(409, 'execution-not-finished', 'Conflict', `execution ${id} is still ${previous.status}; only a finished execution can be retried`, { status_of_execution: previous.status });
    }
    const newId = uuidv7();
    const execution = await startExecution({
      executionId: newId,
      ownerId: previous.ownerId,
      correlationId: headerValue(req, 'X-Correlation-Id', correlationSchema, newId),
      retryOfId: previous.id,
      idempotencyKey: null,
      requestHash: null,
      traceparent: headerValue(req, 'traceparent', traceparentSchema, null) ?? newTraceparent(),
      language: previous.language as Language,
      version: previous.languageVersion,
      script: previous.script,
      stdin: previous.stdin,
      limits: previous.limits as unknown as RunLimits,
      retryPresets: deps.retryPresets,
      outagePauseMs: deps.saga.outagePauseMs,
    });
    res.status(201).location(`/api/v1/executions/${newId}`).json(executionView(execution));
  });

  router.get('/executions', async (req, res) => {
    const query = listQuerySchema.safeParse(req.query);
    if (!query.success) throw validationError(fieldErrorsOf(query.error, 'query.'));
    const { status, language, owner, cursor, limit } = query.data;
    const after = cursor ? decodeCursor(cursor) : null;
    const rows = await deps.db.execution.findMany({
      where: {
        status,
        language,
        ownerId: owner,
        ...afterPosition(after),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    res.json({ items: page.map(executionView), nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null });
  });

  /** The audit trail (every transition, with actor and reason) and the events it emitted, with their publish state. */
  router.get('/executions/:id/events', async (req, res) => {
    const id = executionIdOf(req);
    const execution = await deps.db.execution.findUnique({ where: { id }, select: { id: true } });
    if (!execution) throw notFound(`execution ${id}`);
    const [transitions, events] = await Promise.all([
      deps.db.executionTransition.findMany({ where: { executionId: id }, orderBy: { at: 'asc' } }),
      deps.db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } }),
    ]);
    res.json({
      transitions: transitions.map((t) => ({ from: t.fromStatus, to: t.toStatus, at: t.at.toISOString(), actor: t.actor, reason: t.reason, eventId: t.eventId })),
      events: events.map((e) => ({ sequence: e.sequence, state: e.state, attempts: e.attempts, publishedAt: e.publishedAt?.toISOString() ?? null, lastError: e.lastError, envelope: e.envelope })),
    });
  });

  router.get('/executions/:id', async (req, res) => {
    const id = executionIdOf(req);
    const execution = await deps.db.execution.findUnique({ where: { id } });
    if (!execution) throw notFound(`execution ${id}`);
    const live = isTerminal(execution.status) ? null : await liveState(deps.temporal, execution.workflowId);
    res.json({ ...executionView(execution), live });
  });

  /** Cancels a queued or running execution: 202, the saga kills the run, releases capacity, records `cancelled`. Idempotent. */
  router.post('/executions/:id/cancel', async (req, res) => {
    const id = executionIdOf(req);
    const body = cancelBodySchema.safeParse(optionalJsonBody(req) ?? {});
    if (!body.success) throw validationError(fieldErrorsOf(body.error));
    const execution = await deps.db.execution.findUnique({ where: { id } });
    if (!execution) throw notFound(`execution ${id}`);
    if (execution.status === 'cancelled') {
      res.status(202).json(executionView(execution));
      return;
    }
    if (isTerminal(execution.status)) {
      throw new HttpError(409, 'execution-terminal', 'Conflict', `execution ${id} is already ${execution.status}; only queued or running executions can be cancelled`, { status_of_execution: execution.status });
    }
    const request: CancelRequest = { actor: `api:${ownerOf(req)}`, reason: body.data.reason ?? null };
    const handle = deps.temporal.workflow.getHandle(execution.workflowId);
    try {
      await handle.signal(CANCEL_REQUESTED_SIGNAL, request);
      await handle.cancel();
    } catch (err) {
      // The saga ended between our read and the cancel: report what it ended as.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const now = await deps.db.execution.findUniqueOrThrow({ where: { id } });
      if (now.status !== 'cancelled') throw new HttpError(409, 'execution-terminal', 'Conflict', `execution ${id} is already ${now.status}`, { status_of_execution: now.status });
    }
    res.status(202).json(executionView(execution));
  });

  return router;
}
