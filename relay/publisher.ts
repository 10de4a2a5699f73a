/** One Kafka record to publish. */
export interface OutboundMessage {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Why a publish failed, which decides what the relay does next:
 * - `broker_unavailable`: the cluster cannot be reached or cannot take writes now — pause, burn no attempts;
 * - `message_rejected`: this message fails on its own (too large, invalid) — count an attempt, then dead-letter.
 */
export type PublishFailureKind = 'broker_unavailable' | 'message_rejected';

export class PublishError extends Error {
  constructor(
    readonly kind: PublishFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PublishError';
  }
}

/** What the relay needs of Kafka; {@link createKafkaPublisher} is the real one. */
export interface EventPublisher {
  /** Creates the topics that do not exist yet. */
  ensureTopics(topics: readonly string[]): Promise<void>;
  /** Publishes all messages (idempotent producer, acks=all); throws {@link PublishError}. */
  publish(messages: readonly OutboundMessage[]): Promise<void>;
  close(): Promise<void>;
}
