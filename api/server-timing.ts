import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestHandler } from 'express';

/**
 * The dependencies a request waits on, as its `Server-Timing` header names them (W3C Server Timing):
 * `auth` the API key's lookup, `limits` the rate limits' Redis, `db` Postgres (timed in the executions service
 * only: other routes' reads count as the API's own time), `temporal` the Temporal
 * frontend; `total` is the request from its first middleware to its headers. What `total` holds beyond
 * the parts is this process's own time: parsing, validation, rendering, and waiting for its event loop.
 */
export type TimedPart = 'auth' | 'limits' | 'db' | 'temporal';

/** Each part's time in one request, ms; parts waited on together (a GET's reads) overlap. */
type Parts = Map<TimedPart, number>;

const currentParts = new AsyncLocalStorage<Parts>();

/** Runs `work`, adding its time to `part` of the request it serves (outside a request: just runs it). */
export async function timed<T>(part: TimedPart, work: () => Promise<T>): Promise<T> {
  const parts = currentParts.getStore();
  if (parts === undefined) return work();
  const started = performance.now();
  try {
    return await work();
  } finally {
    parts.set(part, (parts.get(part) ?? 0) + performance.now() - started);
  }
}

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
  const parts: Parts = new Map();
  const started = performance.now();
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadWithTiming(this: typeof res, ...args: Parameters<typeof res.writeHead>) {
    if (!this.headersSent) this.setHeader('Server-Timing', renderServerTiming(parts, performance.now() - started));
    return writeHead.apply(this, args);
  } as typeof res.writeHead;
  currentParts.run(parts, next);
};
