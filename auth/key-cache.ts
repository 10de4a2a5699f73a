import type { Logger } from '../observability/logger';
import type { ApiKey } from '../store/api-keys';
import { API_KEY_CHANGES_CHANNEL, listenForNotifications } from '../store/notifications';

/**
 * The API keys one API replica has read, by prefix, so that a request does not wait on Postgres for its key.
 *
 * A revoked key must be refused at once, by every replica. A trigger on `api_keys` notifies every revocation,
 * deletion or change of a key, whoever makes it (the API, `npm run keys`, an operator's UPDATE), and the cache
 * forgets the key when it hears it. It is trusted only while it can hear: while its LISTEN connection is down every
 * lookup reads Postgres, and it starts empty when the connection is back. A lookup that heard a change while it
 * read keeps nothing (its row may predate the change). `ttlMs` bounds what a notification lost in a way the
 * connection did not notice could leave behind.
 */
export interface ApiKeyCache {
  /** The key with this prefix: a fresh cached row, else `load`'s, cached unless a change was heard meanwhile. */
  lookup(prefix: string, load: (prefix: string) => Promise<ApiKey | null>): Promise<ApiKey | null>;
  /** Drops a key this process changed itself: its next request must not wait for the notification. */
  forget(prefix: string): void;
  /** Resolves once it first hears changes (until then every lookup reads Postgres). */
  listening(): Promise<void>;
  close(): Promise<void>;
}

export interface ApiKeyCacheOptions {
  /** How long a row read is kept, ms (config API_KEY_CACHE_SECONDS). */
  ttlMs: number;
  /** Rows kept at most; the oldest read goes first. @default 10000 */
  maxEntries?: number;
}

export function startApiKeyCache(databaseUrl: string, log: Logger, { ttlMs, maxEntries = 10_000 }: ApiKeyCacheOptions): ApiKeyCache {
  const entries = new Map<string, { key: ApiKey; until: number }>();
  let hearing = false;
  /** Bumped by every change heard (and every loss of hearing): a lookup that saw it bumped keeps nothing. */
  let changes = 0;
  const drop = (prefix?: string): void => {
    changes++;
    if (prefix === undefined) entries.clear();
    else entries.delete(prefix);
  };
  const listener = listenForNotifications({
    databaseUrl,
    channel: API_KEY_CHANGES_CHANNEL,
    name: 'api key cache',
    log,
    onNotification: (prefix) => drop(prefix || undefined),
    onLost: () => {
      hearing = false;
      drop();
    },
    // Whatever changed while it could not hear.
    onReconnected: () => {
      drop();
      hearing = true;
    },
  });
  const firstHeard = listener.listening().then(() => {
    hearing = true;
  });

  return {
    async lookup(prefix, load) {
      const readAt = Date.now();
      const cached = hearing ? entries.get(prefix) : undefined;
      if (cached && cached.until > readAt) return cached.key;
      const changesBefore = changes;
      const key = await load(prefix);
      // Unknown prefixes are not kept: they would let anyone fill the cache, and a key made a moment later must work.
      if (key && hearing && changes === changesBefore) {
        entries.delete(prefix);
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(prefix, { key, until: readAt + ttlMs });
      }
      return key;
    },
    forget: (prefix) => drop(prefix),
    listening: () => firstHeard,
    async close() {
      hearing = false;
      entries.clear();
      await listener.close();
    },
  };
}
