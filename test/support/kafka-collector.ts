import { randomUUID } from 'node:crypto';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import type { MessagesStream } from '@platformatic/kafka';

export interface CollectedMessage {
  topic: string;
  key: string;
  value: string;
  headers: Map<string, string>;
  partition: number;
  offset: bigint;
  /** The producer's timestamp, ms. */
  timestamp: number;
}

/** Reads the given topics from the beginning into memory, for assertions on what the relay published. */
export async function collectKafka(brokers: string[], topics: string[]) {
  const consumer = new Consumer({
    groupId: `test-${randomUUID()}`,
    clientId: 'test-collector',
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
  });
  const messages: CollectedMessage[] = [];
  const stream: MessagesStream<string, string, string, string> = await consumer.consume({ topics, mode: 'earliest', autocommit: false, maxWaitTime: 200 });
  stream.on('data', (m) => {
    messages.push({ topic: m.topic, key: m.key, value: m.value, headers: new Map(m.headers), partition: m.partition, offset: m.offset, timestamp: Number(m.timestamp) });
  });
  return {
    messages,
    forKey: (key: string) => messages.filter((m) => m.key === key),
    async close() {
      await stream.close();
      await consumer.close(true);
    },
  };
}
