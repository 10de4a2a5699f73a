import { HttpError } from './problem';

/** Retry-After of a stream refused past a cap, s: a slot frees when another stream of the key (or replica) ends. */
const STREAM_RETRY_AFTER_S = 5;

export interface StreamCaps {
  /** Streams open at once per API key in this replica (config STREAMS_PER_KEY). */
  perKey: number;
  /** Streams open at once in this replica, all keys (config STREAMS_PER_REPLICA). */
  perReplica: number;
}

/** What the event streams of this process hold now (read by the metrics and by tests). */
export interface StreamCounts {
  /** Streams holding a slot: from the request's arrival until its connection closes. */
  open: number;
  /** Timers the open streams run (re-check and keep-alive). */
  timers: number;
}

export interface StreamSlots {
  /**
   * Takes a slot for a stream of `keyId`; call the returned function once when the stream's connection closes.
   * @throws HttpError 429 (the key has `perKey` open), 503 (the replica has `perReplica` open), with Retry-After.
   */
  acquire(keyId: string): () => void;
  /** Counts a timer started by a stream; the returned function clears it and stops counting it (idempotent). */
  timer(handle: NodeJS.Timeout): () => void;
  counts(): StreamCounts;
}

const refused = (status: 429 | 503, detail: string, limit: number) =>
  new HttpError(status, status === 429 ? 'too-many-streams' : 'streams-exhausted', status === 429 ? 'Too Many Requests' : 'Service Unavailable', detail, { policy: status === 429 ? 'streams-per-key' : 'streams-per-replica', limit, retryAfterSeconds: STREAM_RETRY_AFTER_S }, { 'Retry-After': String(STREAM_RETRY_AFTER_S) });

/**
 * Caps the event streams one API process holds open — per key (a client's runaway loop: 429) and in all (the
 * process's sockets and Postgres reads: 503, another replica may have room) — and counts what they hold, so
 * that a leak shows (`eo_api_event_streams`, `eo_api_event_stream_timers`).
 */
export function createStreamSlots(caps: StreamCaps): StreamSlots {
  const byKey = new Map<string, number>();
  let open = 0;
  let timers = 0;
  return {
    acquire(keyId) {
      const mine = byKey.get(keyId) ?? 0;
      if (mine >= caps.perKey) throw refused(429, `this API key has ${mine} event streams open here, the most allowed (STREAMS_PER_KEY); close one first`, caps.perKey);
      if (open >= caps.perReplica) throw refused(503, `this API process has ${open} event streams open, the most it holds (STREAMS_PER_REPLICA); retry (another replica may have room)`, caps.perReplica);
      byKey.set(keyId, mine + 1);
      open++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        open--;
        const left = (byKey.get(keyId) ?? 1) - 1;
        if (left === 0) byKey.delete(keyId);
        else byKey.set(keyId, left);
      };
    },
    timer(handle) {
      timers++;
      let cleared = false;
      return () => {
        if (cleared) return;
        cleared = true;
        clearInterval(handle);
        timers--;
      };
    },
    counts: () => ({ open, timers }),
  };
}
