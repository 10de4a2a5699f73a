import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { createExecutionRequestSchema, normalizeExecutionRequest } from '../../domain/execution-request';
import { ExecutionStatus } from '../../domain/execution-status';
import { LANGUAGES } from '../../domain/runtimes';
import type { RunLimits } from '../../domain/runtimes';
import { decodeCursor, encodeCursor } from '../cursor';
import { executionView, webhookView } from '../execution-view';
import { fieldErrorsOf, problemBody, validationError } from '../problem';
import { ownerIdSchema } from '../../auth/api-keys';
import { actorOf, ownerScopeOf, principalOf } from '../principal';
import { correlationSchema, executionIdOf, headerValue, idempotencyKeySchema, optionalJsonBody, requestLog, requiredJsonBody, traceparentSchema, withExecutionIdInLog } from '../request-parts';
import type { RateLimits } from '../rate-limits';
import type { BatchItem, ExecutionService, Submission } from '../services/executions';

export interface ExecutionRoutesDeps {
  executions: ExecutionService;
  limitMaxima: RunLimits;
  /** `callbackUrl` may be plain http (config WEBHOOK_ALLOW_HTTP). @default false */
  allowHttpCallbacks?: boolean;
  rateLimits: Pick<RateLimits, 'admitExecutions'>;
}

/** Most submissions one batch may carry. */
const BATCH_MAX = 100;
// Each item an object, validated on its own (an invalid one is answered in its place, the others still start).
const batchSchema = z.object({ items: z.array(z.looseObject({})).min(1).max(BATCH_MAX) }).strict();
const cancelBodySchema = z.object({ reason: z.string().max(1000).optional() }).strict();
const listQuerySchema = z
  .object({
    status: z.enum(ExecutionStatus).optional(),
    language: z.enum(LANGUAGES).optional(),
    owner: ownerIdSchema.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

const locationOf = (id: string) => `/api/v1/executions/${id}`;

/** The owner is the key's: nothing the client sends can name another. */
const submissionOf = (req: Request, res: Response): Submission => ({
  ownerId: principalOf(res).ownerId,
  actor: actorOf(principalOf(res)),
  idempotencyKey: headerValue<string | null>(req, 'Idempotency-Key', idempotencyKeySchema, null),
  correlationId: headerValue<string | null>(req, 'X-Correlation-Id', correlationSchema, null),
  traceparent: headerValue(req, 'traceparent', traceparentSchema, null),
});

/** What a retry carries into the new execution (owner and script come from the old one). */
const tracingOf = (req: Request, res: Response) => ({
  actor: actorOf(principalOf(res)),
  correlationId: headerValue<string | null>(req, 'X-Correlation-Id', correlationSchema, null),
  traceparent: headerValue(req, 'traceparent', traceparentSchema, null),
});

/** `/executions`: parse the request, call the executions service, render the answer. */
export function executionRoutes(deps: ExecutionRoutesDeps): Router {
  const router = Router();
  const { executions, rateLimits } = deps;
  router.param('id', withExecutionIdInLog);
  const requestSchema = createExecutionRequestSchema(deps.limitMaxima, { allowHttpCallbacks: deps.allowHttpCallbacks });
  const parseRequest = (body: unknown) => {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    return normalizeExecutionRequest(parsed.data);
  };

  router.post('/executions', async (req, res) => {
    const body = requiredJsonBody(req);
    const submission = submissionOf(req, res);
    const request = parseRequest(body);
    const { execution, replayed } = await rateLimits.admitExecutions(req, res, { ownerId: submission.ownerId, count: 1 }, (admission) => executions.submit(request, submission, requestLog(req), admission));
    res.location(locationOf(execution.id));
    if (replayed) res.status(200).set('Idempotent-Replayed', 'true');
    else res.status(201);
    res.json(executionView(execution));
  });

  /**
   * Up to {@link BATCH_MAX} submissions at once, each validated and started on its own: the answer lists, per
   * item, what `POST /executions` would have answered (201/200 with the execution, or a problem).
   */
  router.post('/executions/batch', async (req, res) => {
    const parsed = batchSchema.safeParse(requiredJsonBody(req));
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    const items = parsed.data.items.map((item): BatchItem => {
      try {
        return { request: parseRequest(item) };
      } catch (err) {
        return { invalid: err as ReturnType<typeof validationError> };
      }
    });
    const submission = submissionOf(req, res);
    // Each item that would start counts; a batch past a limit starts nothing.
    const count = items.filter((i) => 'request' in i).length;
    const outcomes = await rateLimits.admitExecutions(req, res, { ownerId: submission.ownerId, count }, (admission) => executions.submitBatch(items, submission, requestLog(req), admission));
    const rendered = outcomes.map((o) =>
      'submitted' in o
        ? { index: o.index, status: o.submitted.replayed ? 200 : 201, location: locationOf(o.submitted.execution.id), execution: executionView(o.submitted.execution) }
        : { index: o.index, status: o.problem.status, problem: problemBody(o.problem, `${req.originalUrl}#${o.index}`) },
    );
    res.json({ items: rendered, accepted: rendered.filter((i) => i.status < 300).length, failed: rendered.filter((i) => i.status >= 300).length });
  });

  router.post('/executions/:id/retry', async (req, res) => {
    const id = executionIdOf(req);
    const principal = principalOf(res);
    const execution = await rateLimits.admitExecutions(req, res, { ownerId: principal.ownerId, count: 1 }, (admission) => executions.retry(id, ownerScopeOf(principal), tracingOf(req, res), requestLog(req), admission));
    res.status(201).location(locationOf(execution.id)).json(executionView(execution));
  });

  router.get('/executions', async (req, res) => {
    const query = listQuerySchema.safeParse(req.query);
    if (!query.success) throw validationError(fieldErrorsOf(query.error, 'query.'));
    const { status, language, owner, cursor, limit } = query.data;
    // A user key lists its own owner's executions only: asking for another owner's finds none.
    const scope = ownerScopeOf(principalOf(res));
    if (scope !== null && owner !== undefined && owner !== scope) {
      res.json({ items: [], nextCursor: null });
      return;
    }
    const page = await executions.list({ status, language, ownerId: scope ?? owner }, cursor !== undefined ? decodeCursor(cursor) : null, limit);
    res.json({ items: page.items.map(executionView), nextCursor: page.more && page.last ? encodeCursor(page.last) : null });
  });

  router.get('/executions/:id/events', async (req, res) => {
    const { transitions, events, webhookDeliveries } = await executions.history(executionIdOf(req), ownerScopeOf(principalOf(res)));
    res.json({
      webhookDeliveries: webhookView(null, webhookDeliveries)?.deliveries ?? [],
      transitions: transitions.map((t) => ({ from: t.fromStatus, to: t.toStatus, at: t.at.toISOString(), actor: t.actor, reason: t.reason, eventId: t.eventId })),
      events: events.map((e) => ({ sequence: e.sequence, state: e.state, attempts: e.attempts, publishedAt: e.publishedAt?.toISOString() ?? null, lastError: e.lastError, envelope: e.envelope })),
    });
  });

  router.get('/executions/:id', async (req, res) => {
    const { execution, live, webhookDeliveries } = await executions.get(executionIdOf(req), ownerScopeOf(principalOf(res)), requestLog(req));
    res.json({ ...executionView(execution), live, webhook: webhookView(execution.callbackUrl, webhookDeliveries) });
  });

  router.post('/executions/:id/cancel', async (req, res) => {
    const id = executionIdOf(req);
    const body = cancelBodySchema.safeParse(optionalJsonBody(req) ?? {});
    if (!body.success) throw validationError(fieldErrorsOf(body.error));
    const principal = principalOf(res);
    const execution = await executions.cancel(id, ownerScopeOf(principal), { actor: actorOf(principal), reason: body.data.reason ?? null }, requestLog(req));
    res.status(202).json(executionView(execution));
  });

  return router;
}
