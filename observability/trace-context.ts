import { randomBytes } from 'node:crypto';

/** W3C Trace Context `traceparent`: version-traceid-parentid-flags. */
export const TRACEPARENT_PATTERN = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A new trace (sampled). */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/** A child of `traceparent`: same trace id and flags, a new parent id (one per published event). */
export function childTraceparent(traceparent: string): string {
  const [version, traceId, , flags] = traceparent.split('-');
  return `${version}-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

export const traceIdOf = (traceparent: string) => traceparent.split('-')[1]!;
