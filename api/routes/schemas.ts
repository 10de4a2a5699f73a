import { Router } from 'express';
import { z } from 'zod';
import { envelopeSchema, eventPayloadSchemas, EVENT_TYPES, EVENT_VERSION } from '../../domain/events';

/** JSON Schema of every event type (envelope with its payload), generated from the zod catalogue. */
export function eventJsonSchemas() {
  return Object.fromEntries(
    EVENT_TYPES.map((type) => [
      type,
      z.toJSONSchema(envelopeSchema.extend({ event_type: z.literal(type), event_version: z.literal(EVENT_VERSION), payload: eventPayloadSchemas[type] }), { io: 'output' }),
    ]),
  );
}

/** `GET /api/v1/schemas/events`: what consumers of the Kafka topics can validate against. */
export function schemaRoutes(): Router {
  const router = Router();
  const schemas = eventJsonSchemas();
  router.get('/schemas/events', (_req, res) => {
    res.json({ eventVersion: EVENT_VERSION, topics: Object.fromEntries(EVENT_TYPES.map((t) => [t, { topic: t, key: 'execution id', dlqTopic: `${t}.dlq` }])), schemas });
  });
  return router;
}
