import type { RequestHandler } from 'express';
import { timingRequest, type TimedPart, type TimedParts } from '../observability/request-timing';

/**
 * The `Server-Timing` header (W3C Server Timing) of every answer: the parts a request waited on
 * (observability/request-timing.ts: `auth`, `limits`, `db`, `temporal`), then `total`, the request from its first
 * middleware to its headers. What `total` holds beyond the parts is this process's own time: parsing, validation,
 * rendering, and waiting for its event loop.
 */

/** `auth;dur=0.41, db;dur=2.03, total;dur=9.87`: the parts in the order they were first waited on. */
export function renderServerTiming(parts: ReadonlyMap<TimedPart, number>, totalMs: number): string {
  return [...parts, ['total', totalMs] as const].map(([name, ms]) => `${name};dur=${ms.toFixed(2)}`).join(', ');
}

/**
 * Middleware: every answer carries `Server-Timing`, written as its headers go out (an event stream's when it
 * opens). Mounted first, so that `total` covers every middleware; body parsers must keep the async context
 * (observability/http-tracing.ts `keepingTraceContext`) for the parts after them to be counted.
 */
export const serverTiming: RequestHandler = (_req, res, next) => {
  const parts: TimedParts = new Map();
  const started = performance.now();
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadWithTiming(this: typeof res, ...args: Parameters<typeof res.writeHead>) {
    if (!this.headersSent) this.setHeader('Server-Timing', renderServerTiming(parts, performance.now() - started));
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  timingRequest(parts, next);
};
