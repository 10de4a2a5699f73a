// Where a request's time went, from the API's `Server-Timing` header (api/server-timing.ts) beside the
// latency the client saw: the middle half of the requests against the slowest 5 %, part by part.

/** The parts the API names, then what the bench derives: the API's own time and the time outside its handler. */
export const TIMING_PARTS = ['auth', 'limits', 'db', 'temporal', 'api own', 'outside'] as const;
export type TimingPart = (typeof TIMING_PARTS)[number];

/** One request: the client's latency and the parts, ms. */
export interface TimedRequest {
  clientMs: number;
  parts: Record<TimingPart, number>;
}

/** Mean of each part over a band of requests (by the client's latency), ms. */
export interface TimingBand {
  n: number;
  clientMs: number;
  parts: Record<TimingPart, number>;
}

export interface TimingBreakdown {
  /** The requests between the 25th and 75th percentile of client latency. */
  middle: TimingBand;
  /** The slowest 5 % (at least one). */
  slowest: TimingBand;
}

/**
 * A request from its client latency and `Server-Timing` header; null without the header (API_SERVER_TIMING off).
 * `api own` is the total less the named parts (parsing, validation, rendering, the API's event loop); `outside`
 * is the client's latency less the total (connection, the request's bytes before the first middleware, the
 * answer's after its headers, and the bench client's own event loop).
 */
export function timedRequest(clientMs: number, header: string | null): TimedRequest | null {
  if (!header) return null;
  const named = new Map<string, number>();
  for (const entry of header.split(',')) {
    const match = /^\s*([a-z]+);dur=([\d.]+)\s*$/.exec(entry);
    if (match) named.set(match[1]!, Number(match[2]));
  }
  const total = named.get('total');
  if (total === undefined) return null;
  const of = (name: string) => named.get(name) ?? 0;
  const waited = of('auth') + of('limits') + of('db') + of('temporal');
  return {
    clientMs,
    parts: { auth: of('auth'), limits: of('limits'), db: of('db'), temporal: of('temporal'), 'api own': Math.max(0, total - waited), outside: Math.max(0, clientMs - total) },
  };
}

function band(requests: TimedRequest[]): TimingBand {
  const mean = (f: (r: TimedRequest) => number) => Math.round((requests.reduce((s, r) => s + f(r), 0) / Math.max(1, requests.length)) * 10) / 10;
  const parts = Object.fromEntries(TIMING_PARTS.map((p) => [p, mean((r) => r.parts[p])])) as Record<TimingPart, number>;
  return { n: requests.length, clientMs: mean((r) => r.clientMs), parts };
}

/** The middle half and the slowest 5 % of `requests`, by client latency; null when none carried the header. */
export function timingBreakdown(requests: TimedRequest[]): TimingBreakdown | null {
  if (requests.length === 0) return null;
  const sorted = [...requests].sort((a, b) => a.clientMs - b.clientMs);
  const slowestCount = Math.max(1, Math.ceil(sorted.length * 0.05));
  return {
    middle: band(sorted.slice(Math.floor(sorted.length * 0.25), Math.max(1, Math.ceil(sorted.length * 0.75)))),
    slowest: band(sorted.slice(sorted.length - slowestCount)),
  };
}

/** Markdown rows: one per band, each part's mean. */
export function timingRows(label: string, breakdown: TimingBreakdown): string[] {
  const row = (name: string, b: TimingBand) => `| ${label} | ${name} | ${b.n} | ${b.clientMs} | ${TIMING_PARTS.map((p) => b.parts[p]).join(' | ')} |`;
  return [row('middle half', breakdown.middle), row('slowest 5 %', breakdown.slowest)];
}

export const TIMING_TABLE_HEAD = [`| server, request | requests | n | client ms | ${TIMING_PARTS.join(' | ')} |`, `| --- | --- | --- | --- | ${TIMING_PARTS.map(() => '---').join(' | ')} |`];
