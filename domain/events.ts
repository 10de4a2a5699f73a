import { z } from 'zod';
import { LANGUAGES, limitsSchema } from './runtimes';
import { ErrorType } from './execution-status';
import type { ExecutionStatus } from './execution-status';

/**
 * The event catalogue. One Kafka topic per event type (topic = type), key = execution id.
 * These zod schemas are the source of truth; JSON Schemas are generated from them.
 */
export const EVENT_VERSION = 1;

const isoDate = z.iso.datetime({ offset: true });
const terminalResult = {
  execution_id: z.uuid(),
  status: z.enum(['completed', 'failed', 'timed_out', 'error']),
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  error_type: z.enum(ErrorType).nullable(),
  error_message: z.string().nullable(),
  wall_time_ms: z.number().int().nullable(),
  cpu_time_ms: z.number().int().nullable(),
  peak_memory_kb: z.number().int().nullable(),
  oom_killed: z.boolean().nullable(),
  sandboxed: z.boolean().nullable(),
  stdout_truncated: z.boolean(),
  stderr_truncated: z.boolean(),
  finished_at: isoDate,
};

export const eventPayloadSchemas = {
  execution_requested: z.object({
    execution_id: z.uuid(),
    owner_id: z.string(),
    language: z.enum(LANGUAGES),
    version: z.string(),
    limits: limitsSchema,
    retry_of: z.uuid().nullable(),
  }),
  execution_started: z.object({ execution_id: z.uuid(), started_at: isoDate }),
  execution_completed: z.object(terminalResult),
  execution_failed: z.object(terminalResult),
  execution_timeout: z.object(terminalResult),
  execution_cancelled: z.object({
    execution_id: z.uuid(),
    reason: z.string().nullable(),
    actor: z.string(),
    cancelled_at: isoDate,
  }),
} as const;

export type EventType = keyof typeof eventPayloadSchemas;
export const EVENT_TYPES = Object.keys(eventPayloadSchemas) as EventType[];
export type EventPayload<T extends EventType> = z.infer<(typeof eventPayloadSchemas)[T]>;

export const envelopeSchema = z.object({
  event_id: z.uuid({ version: 'v7' }),
  event_type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  event_version: z.number().int().positive(),
  occurred_at: isoDate,
  aggregate_id: z.uuid(),
  correlation_id: z.string().min(1),
  causation_id: z.string().nullable(),
  producer: z.object({ service: z.string(), version: z.string() }),
  payload: z.record(z.string(), z.unknown()),
});
export type EventEnvelope = z.infer<typeof envelopeSchema>;

/** The event a transition into `status` emits. `error` is reported as `execution_failed` with status `error`. */
export const EVENT_FOR_STATUS: Record<ExecutionStatus, EventType> = {
  queued: 'execution_requested',
  running: 'execution_started',
  completed: 'execution_completed',
  failed: 'execution_failed',
  timed_out: 'execution_timeout',
  cancelled: 'execution_cancelled',
  error: 'execution_failed',
};
