import type { Request, RequestHandler, RequestParamHandler } from 'express';
import type { Logger } from '../observability/logger';
import { z } from 'zod';
import { TRACEPARENT_PATTERN } from '../observability/trace-context';
import { HttpError, fieldErrorsOf, validationError } from './problem';

/** Header syntaxes, shared by the parsers below and the OpenAPI document (api/openapi.ts): one truth. */
export const HEADER_PATTERNS = {
  'Idempotency-Key': /^[\x21-\x7e]{1,255}$/,
  // Visible ASCII and inner spaces (a header value's outer spaces are not part of it), 1-128 characters.
  'X-Correlation-Id': /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/,
  // Sequences are Postgres integers; nine digits is more events than an execution has, and always fits.
  'Last-Event-ID': /^[0-9]{1,9}$/,
} as const;

export const correlationSchema = z.string().regex(HEADER_PATTERNS['X-Correlation-Id'], 'must be 1-128 visible ASCII characters (inner spaces allowed)');
/**
 * A valid W3C traceparent continues its trace; anything else (malformed, all-zero ids) is ignored and a new trace
 * starts, as W3C Trace Context asks of a receiver ("MUST ignore the traceparent"), never a 400.
 */
export const traceparentSchema = z
  .string()
  .transform((v): string | null => (TRACEPARENT_PATTERN.test(v) ? v : null))
  .nullable();
export const idempotencyKeySchema = z.string().regex(HEADER_PATTERNS['Idempotency-Key'], 'must be 1-255 visible ASCII characters');
export const lastEventIdSchema = z.string().regex(HEADER_PATTERNS['Last-Event-ID'], 'must be an event sequence number (digits)').transform(Number);
// Any 8-4-4-4-12 hex (as Postgres's uuid type and the document's `format: uuid` take it), not only RFC 9562 versions.
export const idSchema = z.guid();


/** The `:id` path parameter as a UUID, or a 400 naming `id`. */
export function executionIdOf(req: Request): string {
  const id = idSchema.safeParse(req.params.id);
  if (!id.success) throw validationError([{ field: 'id', message: 'must be a UUID' }]);
  return id.data;
}

/** A request header checked against `schema` (a 400 naming the header), or `fallback` when absent. */
export function headerValue<T>(req: Request, name: string, schema: z.ZodType<T>, fallback: T): T {
  const raw = req.get(name);
  if (raw === undefined) return fallback;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error, `header ${name}`));
  return parsed.data;
}

const notJson = () => new HttpError(415, 'unsupported-media-type', 'Unsupported Media Type', 'request body must be application/json');

/** A required request body, which must be JSON. */
export function requiredJsonBody(req: Request): unknown {
  if (!req.is('application/json')) throw notJson();
  return req.body;
}

/** An optional request body: absent (or empty and untyped) is fine; present, it must be JSON. `req.is` is null without a body. */
export function optionalJsonBody(req: Request): unknown {
  const emptyUntyped = req.get('content-type') === undefined && req.get('transfer-encoding') === undefined && Number(req.get('content-length') ?? 0) === 0;
  if (emptyUntyped) return undefined;
  if (req.is('application/json') === false) throw notJson();
  return req.body;
}

const requestLogs = new WeakMap<Request, Logger>();

/** Gives each request a child logger carrying its `correlation_id` (the X-Correlation-Id header, when valid). */
export function requestLogger(log: Logger): RequestHandler {
  return (req, _res, next) => {
    const correlationId = correlationSchema.safeParse(req.get('X-Correlation-Id'));
    requestLogs.set(req, correlationId.success ? log.child({ correlation_id: correlationId.data }) : log.child({}));
    next();
  };
}

/** The request's child logger (see {@link requestLogger}), or `fallback` before it is set. */
export function requestLog(req: Request, fallback?: Logger): Logger {
  const log = requestLogs.get(req) ?? fallback;
  if (!log) throw new Error('no request logger: install requestLogger() before the routes');
  return log;
}

/** `router.param('id', …)`: adds the request's execution id (when it is one) to its logger. */
export const withExecutionIdInLog: RequestParamHandler = (req, _res, next, id: unknown) => {
  const log = requestLogs.get(req);
  if (log && idSchema.safeParse(id).success) requestLogs.set(req, log.child({ execution_id: id }));
  next();
};
