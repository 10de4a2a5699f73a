import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { OutboxEvent } from '../../generated/prisma/client';
import type { Db } from '../../store/db';
import { actOnDeadLetters, deadLetterIds } from '../../store/dead-letters';
import type { DeadLetterAction } from '../../store/dead-letters';
import { afterPosition, decodeCursor, encodeCursor } from '../cursor';
import { HttpError, fieldErrorsOf, notFound, validationError } from '../problem';
import { idSchema, optionalJsonBody, ownerOf } from '../request-parts';

export interface DeadLetterRoutesDeps {
  db: Db;
}

/** Most dead letters one bulk retry touches; repeat the call for more. */
const BULK_MAX = 1_000;

const filterSchema = { eventType: z.string().min(1).max(100).optional(), executionId: idSchema.optional() };
const listQuerySchema = z.object({ ...filterSchema, cursor: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(100).default(20) }).strict();
const retryBodySchema = z.object({ reason: z.string().max(1000).optional() }).strict();
const discardBodySchema = z.object({ reason: z.string().trim().min(1, 'is required: say why the event is dropped').max(1000) }).strict();
const bulkRetryBodySchema = z
  .object({ ...filterSchema, all: z.literal(true).optional(), reason: z.string().max(1000).optional() })
  .strict()
  .refine((b) => b.all === true || b.eventType !== undefined || b.executionId !== undefined, { message: 'give eventType and/or executionId, or "all": true', path: ['all'] });

function parse<T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error, prefix));
  return parsed.data;
}

function deadLetterView(e: OutboxEvent) {
  return {
    id: e.id,
    executionId: e.executionId,
    eventType: e.eventType,
    sequence: e.sequence,
    state: e.state,
    attempts: e.attempts,
    lastError: e.lastError,
    createdAt: e.createdAt.toISOString(),
    envelope: e.envelope,
  };
}

/**
 * Operators' dead-letter queue: the outbox rows the relay gave up on (`dead`). Each can be retried (back to
 * `pending`, attempts reset, the relay woken) or discarded (kept as `discarded`), one by one or retried in
 * bulk by filter; every action writes an audit row (`dead_letter_actions`: who, when, why).
 * A retried event is published after its execution's later events, which did not wait for it.
 */
export function deadLetterRoutes(deps: DeadLetterRoutesDeps): Router {
  const router = Router();
  const actorOf = (req: Request) => `api:${ownerOf(req)}`;

  router.get('/dlq', async (req, res) => {
    const { eventType, executionId, cursor, limit } = parse(listQuerySchema, req.query, 'query.');
    const rows = await deps.db.outboxEvent.findMany({
      where: { state: 'dead', eventType, executionId, ...afterPosition(cursor ? decodeCursor(cursor) : null) },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit + 1,
    });
    const page = rows.slice(0, limit);
    res.json({ items: page.map(deadLetterView), nextCursor: rows.length > limit ? encodeCursor(page.at(-1)!) : null });
  });

  router.post('/dlq/retry', async (req, res) => {
    const body = parse(bulkRetryBodySchema, optionalJsonBody(req));
    const ids = await deadLetterIds(deps.db, { eventType: body.eventType, executionId: body.executionId }, BULK_MAX);
    const retried = await actOnDeadLetters(deps.db, ids, 'retry', { actor: actorOf(req), reason: body.reason ?? null });
    res.json({ retried: retried.length, ids: retried, more: ids.length === BULK_MAX });
  });

  const single = (action: DeadLetterAction, bodySchema: z.ZodType<{ reason?: string }>) => async (req: Request, res: Response) => {
    const parsedId = idSchema.safeParse(req.params.id);
    if (!parsedId.success) throw validationError([{ field: 'id', message: 'must be a UUID' }]);
    const id = parsedId.data;
    const body = parse(bodySchema, optionalJsonBody(req));
    const acted = await actOnDeadLetters(deps.db, [id], action, { actor: actorOf(req), reason: body.reason ?? null });
    const event = await deps.db.outboxEvent.findUnique({ where: { id } });
    if (!event) throw notFound(`dead letter ${id}`);
    if (acted.length === 0) throw new HttpError(409, 'not-a-dead-letter', 'Not a dead letter', `event ${id} is ${event.state}, not dead`);
    res.json(deadLetterView(event));
  };
  router.post('/dlq/:id/retry', single('retry', retryBodySchema));
  router.post('/dlq/:id/discard', single('discard', discardBodySchema));

  return router;
}
