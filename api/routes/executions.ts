import { Router } from 'express';
import type { Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { createExecutionRequestSchema, normalizeExecutionRequest } from '../../domain/execution-request';
import { LANGUAGES } from '../../domain/runtimes';
import type { RunLimits } from '../../domain/runtimes';
import type { RetryPresets } from '../../domain/retry-policies';
import { CANCEL_REQUESTED_SIGNAL, SAGA_STATE_QUERY, WORKFLOW_NAME } from '../../domain/saga';
import type { CancelRequest, ExecutionSagaInput, SagaState } from '../../domain/saga';
import { isTerminal } from '../../domain/execution-status';
import type { executionSaga } from '../../workflows/execution-saga';
import type { Db } from '../../store/db';
import type { Producer } from '../../store/envelope';
import { createExecution } from '../../store/transitions';
import type { Execution } from '../../generated/prisma/client';
import { executionView } from '../execution-view';
import { idempotentExecutionId, requestHash } from '../idempotency';
import { newTraceparent, TRACEPARENT_PATTERN } from '../../observability/trace-context';
import { HttpError, fieldErrorsOf, notFound, validationError } from '../problem';

export interface ExecutionRoutesDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  limitMaxima: RunLimits;
  retryPresets: RetryPresets;
  producer: Producer;
}

/** Interim owner identity until API keys land: the `X-Owner-Id` header, else `anonymous`. */
const ownerSchema = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
const correlationSchema = z.string().min(1).max(128);
const traceparentSchema = z.string().regex(TRACEPARENT_PATTERN, 'must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)').nullable();
const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters');

/** The row of a workflow another request just started: it is written right after the start. */
async function waitForRow(db: Db, id: string, deadlineMs = 3_000): Promise<Execution | null> {
  for (const until = Date.now() + deadlineMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    const row = await db.execution.findUnique({ where: { id } });
    if (row) return row;
  }
  return null;
}
const idSchema = z.uuid();
const cancelBodySchema = z.object({ reason: z.string().max(1000).optional() }).strict();
const listQuerySchema = z
  .object({
    status: z.enum(['queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled', 'error']).optional(),
    language: z.enum(LANGUAGES).optional(),
    owner: ownerSchema.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

/** Keyset cursor over (createdAt desc, id desc): stable while new executions arrive. */
const encodeCursor = (e: { createdAt: Date; id: string }) => Buffer.from(`${e.createdAt.toISOString()}|${e.id}`).toString('base64url');
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !idSchema.safeParse(id).success || Number.isNaN(createdAt.getTime())) throw validationError([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  return { createdAt, id };
}

function executionIdOf(req: Request): string {
  const id = idSchema.safeParse(req.params.id);
  if (!id.success) throw validationError([{ field: 'id', message: 'must be a UUID' }]);
  return id.data;
}

function headerValue<T>(req: Request, name: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = req.get(name);
  if (raw === undefined) return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error, `header ${name}`));
  return parsed.data;
}

/**
 * What the saga is doing now: its step and queue position (workflow query) and the current activity's
 * attempt and last heartbeat (from Temporal's description). Null when the workflow cannot be asked.
 */
async function liveState(temporal: Client, workflowId: string) {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    const [state, description] = await Promise.all([handle.query<SagaState>(SAGA_STATE_QUERY), handle.describe()]);
    const activity = description.raw.pendingActivities?.[0];
    const heartbeat = activity?.lastHeartbeatTime?.seconds;
    return {
      step: state.step,
      capacityPosition: state.capacityPosition,
      activity: activity?.activityType?.name ?? null,
      attempt: activity?.attempt ?? null,
      lastHeartbeatAt: heartbeat ? new Date(Number(heartbeat) * 1000 + Math.floor((activity?.lastHeartbeatTime?.nanos ?? 0) / 1e6)).toISOString() : null,
    };
  } catch {
    // A saga that just ended or is not yet started answers nothing; the stored status stands on its own.
    return null;
  }
}

export function executionRoutes(deps: ExecutionRoutesDeps): Router {
  const router = Router();
  const requestSchema = createExecutionRequestSchema(deps.limitMaxima);

  router.post('/executions', async (req, res) => {
    if (!req.is('application/json')) {
      throw new HttpError(415, 'unsupported-media-type', 'Unsupported Media Type', 'request body must be application/json');
    }
    const parsed = requestSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    const request = normalizeExecutionRequest(parsed.data);
    const ownerId = headerValue(req, 'X-Owner-Id', ownerSchema, 'anonymous');
    const idempotencyKey = headerValue<string | null>(req, 'Idempotency-Key', idempotencyKeySchema, null);
    const hash = idempotencyKey ? requestHash(request) : null;
    const id = idempotencyKey ? idempotentExecutionId(ownerId, idempotencyKey) : uuidv7();

    const replay = (existing: Execution) => {
      if (existing.requestHash !== hash) {
        throw new HttpError(422, 'idempotency-key-reused', 'Idempotency-Key reused', `Idempotency-Key ${idempotencyKey} was already used with a different request (execution ${existing.id})`);
      }
      res.status(200).location(`/api/v1/executions/${id}`).set('Idempotent-Replayed', 'true').json(executionView(existing));
    };
    if (idempotencyKey) {
      const existing = await deps.db.execution.findUnique({ where: { id } });
      if (existing) return replay(existing);
    }

    const correlationId = headerValue(req, 'X-Correlation-Id', correlationSchema, id);
    const traceparent = headerValue(req, 'traceparent', traceparentSchema, null) ?? newTraceparent();
    const input: ExecutionSagaInput = { executionId: id, ownerId, correlationId, retryOfId: null, idempotencyKey, requestHash: hash, traceparent, ...request, retryPresets: deps.retryPresets };
    try {
      // Workflow first: once it is started the request is durable, and the saga creates the row if we stop here.
      await deps.temporal.workflow.start<typeof executionSaga>(WORKFLOW_NAME, {
        workflowId: id,
        taskQueue: deps.taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE', // an execution id is never reused
      });
    } catch (err) {
      // Only a request with the same Idempotency-Key can collide: answer as that one is answered.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || !idempotencyKey) throw err;
      const existing = await waitForRow(deps.db, id);
      if (!existing) throw new HttpError(409, 'request-in-progress', 'Conflict', `a request with Idempotency-Key ${idempotencyKey} is still being accepted; retry shortly`);
      return replay(existing);
    }
    await createExecution(deps.db, { id, ownerId, correlationId, idempotencyKey, requestHash: hash, traceparent, ...request }, `api:${ownerId}`, deps.producer);
    const execution = await deps.db.execution.findUniqueOrThrow({ where: { id } });
    res.status(201).location(`/api/v1/executions/${id}`).json(executionView(execution));
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
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
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
    if (req.body !== undefined && !req.is('application/json')) {
      throw new HttpError(415, 'unsupported-media-type', 'Unsupported Media Type', 'request body must be application/json');
    }
    const body = cancelBodySchema.safeParse(req.body ?? {});
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
    const request: CancelRequest = { actor: `api:${headerValue(req, 'X-Owner-Id', ownerSchema, 'anonymous')}`, reason: body.data.reason ?? null };
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
