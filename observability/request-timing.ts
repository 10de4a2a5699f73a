import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a request waits on, part by part, for its `Server-Timing` header (api/server-timing.ts): `auth` the API
 * key's lookup, `limits` the rate limits, `db` Postgres (every query, timed at the pg driver adapter: store/db.ts),
 * `temporal` the Temporal frontend. Here, not in api/, because the store times its queries too.
 */
export type TimedPart = 'auth' | 'limits' | 'db' | 'temporal';

/** Each part's time in one request, ms; parts waited on together (a GET's reads) overlap. */
export type TimedParts = Map<TimedPart, number>;

interface RequestTiming {
  parts: TimedParts;
  /** The part being timed now: what it waits on inside counts to it alone (the key lookup's query is `auth`, not `db`). */
  inside: TimedPart | null;
}

const current = new AsyncLocalStorage<RequestTiming>();

/** Runs `serve` with a fresh account of the parts it waits on, filled in as it goes. */
export function timingRequest(parts: TimedParts, serve: () => void): void {
  current.run({ parts, inside: null }, serve);
}

/**
 * Runs `work`, adding its time to `part` of the request it serves. Outside a request, or inside another timed part
 * (which then owns the time), it just runs it.
 */
export async function timed<T>(part: TimedPart, work: () => Promise<T>): Promise<T> {
  const request = current.getStore();
  if (request === undefined || request.inside !== null) return work();
  const started = performance.now();
  try {
    return await current.run({ parts: request.parts, inside: part }, work);
  } finally {
    request.parts.set(part, (request.parts.get(part) ?? 0) + performance.now() - started);
  }
}
