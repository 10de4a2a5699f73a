import { v7 as uuidv7 } from 'uuid';
import { EVENT_VERSION } from '../domain/events';
import type { EventEnvelope, EventPayload, EventType } from '../domain/events';

export interface Producer {
  service: string;
  version: string;
}

/** Builds the envelope of one domain event; `event_id` is a UUIDv7 (time-ordered). */
export function buildEnvelope<T extends EventType>(args: {
  type: T;
  aggregateId: string;
  correlationId: string;
  causationId: string | null;
  producer: Producer;
  payload: EventPayload<T>;
  occurredAt?: Date;
}): EventEnvelope {
  return {
    event_id: uuidv7(),
    event_type: args.type,
    event_version: EVENT_VERSION,
    occurred_at: (args.occurredAt ?? new Date()).toISOString(),
    aggregate_id: args.aggregateId,
    correlation_id: args.correlationId,
    causation_id: args.causationId,
    producer: args.producer,
    payload: args.payload as Record<string, unknown>,
  };
}
