import { Router } from 'express';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { OutboxEvent } from '../../generated/prisma/client';
import type { DeadLetterAction } from '../../store/dead-letters';
import { decodeCursor, encodeCursor } from '../cursor';
import { fieldErrorsOf, validationError } from '../problem';
import { actorOf, principalOf } from '../principal';
import { idSchema, optionalJsonBody } from '../request-parts';
import type { DeadLetterService } from '../services/dead-letters';

export interface DeadLetterRoutesDeps {
  deadLetters: DeadLetterService;
}

const filterSchema = { eventType: z.string().min(1).max(100).optional(), executionId: idSchema.optional() };
const listQuerySchema = z.object({ ...filterSchema, cursor: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(100).default(20) }).strict();
const retryBodySchema = z.object({ reason: z.string().max(1000).optional() }).strict();
/** A reason with something in it: at least one character that is not an ASCII space, tab or line break (as the document says). */
export const DISCARD_REASON_PATTERN = /[^ \t\n\r]/;
const discardBodySchema = z.object({ reason: z.string().max(1000).regex(DISCARD_REASON_PATTERN, 'is required: say why the event is dropped') }).strict();
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

/** `/dlq` (admin only, gated where the app mounts it): parse the request, call the dead-letter service, render the answer. */
export function deadLetterRoutes(deps: DeadLetterRoutesDeps): Router {
  const router = Router();
  const { deadLetters } = deps;

  router.get('/dlq', async (req, res) => {
    const { eventType, executionId, cursor, limit } = parse(listQuerySchema, req.query, 'query.');
    const page = await deadLetters.list({ eventType, executionId }, cursor !== undefined ? decodeCursor(cursor) : null, limit);
    res.json({ items: page.items.map(deadLetterView), nextCursor: page.more && page.last ? encodeCursor(page.last) : null });
  });

  router.post('/dlq/retry', async (req, res) => {
    const body = parse(bulkRetryBodySchema, optionalJsonBody(req));
    const { retried, more } = await deadLetters.retryMatching({ eventType: body.eventType, executionId: body.executionId }, { actor: actorOf(principalOf(res)), reason: body.reason ?? null });
    res.json({ retried: retried.length, ids: retried, more });
  });

  const single = (action: DeadLetterAction, bodySchema: z.ZodType<{ reason?: string }>) => async (req: Request, res: Response) => {
    const parsedId = idSchema.safeParse(req.params.id);
    if (!parsedId.success) throw validationError([{ field: 'id', message: 'must be a UUID' }]);
    const body = parse(bodySchema, optionalJsonBody(req));
    res.json(deadLetterView(await deadLetters.actOn(parsedId.data, action, { actor: actorOf(principalOf(res)), reason: body.reason ?? null })));
  };
  router.post('/dlq/:id/retry', single('retry', retryBodySchema));
  router.post('/dlq/:id/discard', single('discard', discardBodySchema));

  return router;
}
