import pg from 'pg';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import { EXECUTION_CHANGES_CHANNEL } from '../store/transitions';

export interface FeedSubscriber {
  /** The execution changed (or may have: after a lost connection every subscriber is told). */
  onChange(): void;
  /** The feed is closing (the API is stopping): finish the stream. */
  onClose(): void;
}

/** Tells the API's event streams when their execution changed, from one Postgres LISTEN per process. */
export interface ExecutionFeed {
  /** Returns the unsubscribe function. */
  subscribe(executionId: string, subscriber: FeedSubscriber): () => void;
  /** Resolves once the LISTEN connection is first up. */
  listening(): Promise<void>;
  close(): Promise<void>;
}

/** Wait before the first reconnect of a lost LISTEN connection, doubling up to the maximum, ms. */
const RECONNECT_DELAY_MS = 1_000;
const RECONNECT_MAX_DELAY_MS = 30_000;

/**
 * Listens in the background: the API starts (and answers /readyz) while Postgres is down, and the
 * connection comes and goes with it; streams re-check on their own timer until it is there.
 */
export function startExecutionFeed(databaseUrl: string, log: Logger): ExecutionFeed {
  const subscribers = new Map<string, Set<FeedSubscriber>>();
  let client: pg.Client | null = null;
  let closing = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = RECONNECT_DELAY_MS;
  let markListening: () => void = () => undefined;
  const firstListen = new Promise<void>((resolve) => (markListening = resolve));

  const notify = (executionId: string) => subscribers.get(executionId)?.forEach((s) => s.onChange());
  const notifyAll = () => subscribers.forEach((set) => set.forEach((s) => s.onChange()));

  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString: databaseUrl });
    next.on('notification', (message) => {
      if (message.payload) notify(message.payload);
    });
    next.on('error', (err) => {
      // Streams re-check on their own timer meanwhile; reconnect so changes arrive at once again.
      log.warn({ err: coerceError(err) }, 'execution feed LISTEN connection lost; reconnecting');
      client = null;
      next.end().catch((endErr: unknown) => log.debug({ err: coerceError(endErr) }, 'closing the lost LISTEN connection failed'));
      retryLater();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${EXECUTION_CHANGES_CHANNEL}`);
    } catch (err) {
      next.removeAllListeners('error');
      next.on('error', () => undefined); // a late socket error of a connection already given up
      await next.end().catch(() => undefined); // it never worked: nothing to close cleanly
      throw err;
    }
    if (closing) {
      await next.end();
      return;
    }
    client = next;
  }

  function retryLater(): void {
    if (closing) return;
    retryTimer = setTimeout(() => void reconnect(), retryDelayMs);
    retryDelayMs = Math.min(retryDelayMs * 2, RECONNECT_MAX_DELAY_MS);
  }

  async function reconnect(): Promise<void> {
    try {
      await connect();
      retryDelayMs = RECONNECT_DELAY_MS;
      notifyAll(); // whatever happened while the connection was down
      markListening();
    } catch (err) {
      log.warn({ err: coerceError(err), retry_in_ms: retryDelayMs }, 'execution feed cannot LISTEN; streams re-check on their own meanwhile');
      retryLater();
    }
  }

  void reconnect();
  return {
    subscribe(executionId, subscriber) {
      const set = subscribers.get(executionId) ?? new Set();
      set.add(subscriber);
      subscribers.set(executionId, set);
      return () => {
        set.delete(subscriber);
        if (set.size === 0) subscribers.delete(executionId);
      };
    },
    listening: () => firstListen,
    async close() {
      closing = true;
      clearTimeout(retryTimer);
      subscribers.forEach((set) => set.forEach((s) => s.onClose()));
      subscribers.clear();
      await client?.end();
      client = null;
    },
  };
}
