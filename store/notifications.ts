import pg from 'pg';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';

/** Postgres channel the relay LISTENs on; notified (on commit) whenever an event is written. */
export const OUTBOX_CHANNEL = 'outbox_events';
/** NOTIFY channel carrying the id of an execution that just changed (the API's event streams listen). */
export const EXECUTION_CHANGES_CHANNEL = 'execution_changes';
/** NOTIFY channel carrying the prefix of an API key revoked, deleted or changed (a trigger on api_keys; the API's key cache listens). */
export const API_KEY_CHANGES_CHANNEL = 'api_key_changes';

export type NotificationChannel = typeof OUTBOX_CHANNEL | typeof EXECUTION_CHANGES_CHANNEL | typeof API_KEY_CHANGES_CHANNEL;

export interface ListenOptions {
  databaseUrl: string;
  channel: NotificationChannel;
  /** Names the listener in its log lines, e.g. `relay`. */
  name: string;
  log: Logger;
  /** A notification arrived, with its payload ('' when none). */
  onNotification(payload: string): void;
  /** The connection is (back) up after it was lost: notifications sent meanwhile were missed. */
  onReconnected?(): void;
  /** The connection was lost: notifications are missed until `onReconnected`. */
  onLost?(): void;
  /** Wait before the first reconnect, doubling up to `maxRetryDelayMs`, ms. @default 1000 */
  retryDelayMs?: number;
  /** Longest wait between reconnects, ms. @default 30000 */
  maxRetryDelayMs?: number;
}

export interface NotificationListener {
  /** Settles with the first attempt to LISTEN: rejects when it failed (attempts go on in the background). */
  firstAttempt: Promise<void>;
  /** Resolves once the connection is first up. */
  listening(): Promise<void>;
  close(): Promise<void>;
}

/**
 * One Postgres LISTEN on its own connection (kept out of any pool), in the background: a lost connection
 * is reconnected with exponential backoff, and `onReconnected` says that notifications may have been missed.
 * Callers keep a slow poll of their own as the safety net while the connection is down.
 */
export function listenForNotifications(opts: ListenOptions): NotificationListener {
  const initialDelayMs = opts.retryDelayMs ?? 1_000;
  const maxDelayMs = opts.maxRetryDelayMs ?? 30_000;
  let client: pg.Client | null = null;
  let closing = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let delayMs = initialDelayMs;
  let firstTry = true;
  let markListening: () => void = () => undefined;
  const firstListen = new Promise<void>((resolve) => (markListening = resolve));

  async function connect(): Promise<void> {
    // Named in pg_stat_activity: an operator sees which listener a connection is.
    const next = new pg.Client({ connectionString: opts.databaseUrl, application_name: `eo ${opts.name}` });
    next.on('notification', (message) => opts.onNotification(message.payload ?? ''));
    next.on('error', (err) => {
      opts.log.warn({ err: coerceError(err), listener: opts.name, channel: opts.channel }, 'LISTEN connection lost; reconnecting');
      client = null;
      opts.onLost?.();
      next.end().catch((endErr: unknown) => opts.log.debug({ err: coerceError(endErr), listener: opts.name }, 'closing the lost LISTEN connection failed'));
      retryLater();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${opts.channel}`);
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
    retryTimer = setTimeout(() => attempt().catch(() => undefined), delayMs); // a failure schedules the next try itself
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }

  async function attempt(): Promise<void> {
    const first = firstTry;
    firstTry = false;
    try {
      await connect();
    } catch (err) {
      opts.log.warn({ err: coerceError(err), listener: opts.name, channel: opts.channel, retry_in_ms: delayMs }, 'cannot LISTEN; retrying');
      retryLater();
      throw err;
    }
    delayMs = initialDelayMs;
    if (!first) opts.onReconnected?.();
    markListening();
  }

  const firstAttempt = attempt();
  firstAttempt.catch(() => undefined); // reported above; callers that care await it
  return {
    firstAttempt,
    listening: () => firstListen,
    async close() {
      closing = true;
      clearTimeout(retryTimer);
      await client?.end();
      client = null;
    },
  };
}
