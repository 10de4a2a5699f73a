import type { Request, RequestHandler, RequestParamHandler } from 'express';
import type { Logger } from '../observability/logger';
import { z } from 'zod';
import { TRACEPARENT_PATTERN } from '../observability/trace-context';
import { HttpError, fieldErrorsOf, validationError } from './problem';

export const correlationSchema = z.string().min(1).max(128);
export const traceparentSchema = z.string().regex(TRACEPARENT_PATTERN, 'must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)').nullable();
export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters');
export const idSchema = z.uuid();

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

/** An optional request body: absent is fine; present, it must be JSON. `req.is` is null without a body. */
export function optionalJsonBody(req: Request): unknown {
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
