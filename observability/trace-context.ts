import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';

/** W3C Trace Context `traceparent`: version-traceid-parentid-flags. */
export const TRACEPARENT_PATTERN = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A new trace (sampled). */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/** The `traceparent` of the span active here (an API request, an activity), or null outside any span. */
export function activeTraceparent(): string | null {
  const ctx = trace.getActiveSpan()?.spanContext();
  if (!ctx || !trace.isSpanContextValid(ctx)) return null;
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceFlags.toString(16).padStart(2, '0')}`;
}

/**
 * The parent an event written now carries: the active span when it belongs to `traceparent`'s trace (the
 * request or activity writing the event, a span that is exported), else a new parent id in that trace.
 */
export function childTraceparent(traceparent: string): string {
  const [version, traceId, , flags] = traceparent.split('-');
  const active = activeTraceparent();
  if (active && traceIdOf(active) === traceId) return active;
  return `${version}-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

export const traceIdOf = (traceparent: string) => traceparent.split('-')[1]!;
