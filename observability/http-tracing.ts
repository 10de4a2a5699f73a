import { AsyncResource } from 'node:async_hooks';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { tracer } from './tracing';

/**
 * A server span per request, continuing the caller's W3C `traceparent` when it sent a valid one; the rest
 * of the request (the workflow start, the events it writes, its log lines) runs inside it.
 */
export function traceRequests(req: Request, res: Response, next: NextFunction): void {
  const parent = propagation.extract(context.active(), req.headers);
  const span = tracer().startSpan(`${req.method} ${req.path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } }, parent);
  res.once('close', () => {
    const route = (req.route as { path?: string } | undefined)?.path;
    if (typeof route === 'string') span.updateName(`${req.method} ${req.baseUrl}${route}`);
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(trace.setSpan(parent, span), next);
}

/**
 * Keeps the request's trace context across a middleware that calls `next` from a stream callback (a body
 * parser reads the socket, whose callbacks run in the connection's context, not the request's).
 */
export function keepingTraceContext(middleware: RequestHandler): RequestHandler {
  return (req, res, next) => middleware(req, res, AsyncResource.bind(next));
}
