import type { Logger } from '../observability/logger';
import { EXECUTION_CHANGES_CHANNEL, listenForNotifications } from '../store/notifications';

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
  /** Subscribers now, over all executions (a leak shows here: metrics `eo_api_event_feed_subscribers`). */
  subscriberCount(): number;
  close(): Promise<void>;
}

/**
 * Listens in the background: the API starts (and answers /readyz) while Postgres is down, and the
 * connection comes and goes with it; streams re-check on their own timer until it is there.
 */
export function startExecutionFeed(databaseUrl: string, log: Logger): ExecutionFeed {
  const subscribers = new Map<string, Set<FeedSubscriber>>();
  const listener = listenForNotifications({
    databaseUrl,
    channel: EXECUTION_CHANGES_CHANNEL,
    name: 'execution feed',
    log,
    onNotification: (executionId) => {
      if (executionId) subscribers.get(executionId)?.forEach((s) => s.onChange());
    },
    // Whatever happened while the connection was down.
    onReconnected: () => subscribers.forEach((set) => set.forEach((s) => s.onChange())),
  });

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
    listening: () => listener.listening(),
    subscriberCount: () => [...subscribers.values()].reduce((n, set) => n + set.size, 0),
    async close() {
      subscribers.forEach((set) => set.forEach((s) => s.onClose()));
      subscribers.clear();
      await listener.close();
    },
  };
}
