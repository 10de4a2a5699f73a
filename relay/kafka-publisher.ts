import { Admin, MultipleErrors, Producer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import type { EventPublisher, OutboundMessage } from './publisher';
import { PublishError } from './publisher';

export interface KafkaPublisherOptions {
  brokers: string[];
  clientId: string;
  /** Partitions of each topic the publisher creates. @default 3 */
  partitions?: number;
  /** Replication factor of each topic the publisher creates. @default 1 */
  replicas?: number;
  /** Connect and per-request timeout, ms (a hung broker is noticed after about 3× this). @default 5000 */
  timeoutMs?: number;
}

/** Kafka protocol errors that belong to one message, not to the cluster. */
const MESSAGE_LEVEL_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TOPIC_EXCEPTION']);

/** The relay's Kafka side on @platformatic/kafka (see README, "Kafka client" for why this client). */
export function createKafkaPublisher(opts: KafkaPublisherOptions): EventPublisher {
  const timeout = opts.timeoutMs ?? 5_000;
  const common = { clientId: opts.clientId, bootstrapBrokers: opts.brokers, timeout, connectTimeout: timeout, requestTimeout: timeout, retryDelay: 200 };
  // The idempotent producer treats `retries` of 0 or 1 (or unset) as "retry forever", which would hold the
  // relay's claim transaction open through a broker outage: 2 is the smallest bounded value.
  const producer = new Producer({ ...common, retries: 2, serializers: stringSerializers, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
  let admin: Admin | undefined;

  return {
    async ensureTopics(topics) {
      admin ??= new Admin({ ...common, retries: 1 });
      const missing = async () => {
        const existing = new Set(await admin!.listTopics());
        return topics.filter((t) => !existing.has(t));
      };
      try {
        const toCreate = await missing();
        if (toCreate.length > 0) {
          // Another relay may create the same topics at the same moment: what counts is that they exist after.
          await admin.createTopics({ topics: toCreate, partitions: opts.partitions ?? 3, replicas: opts.replicas ?? 1 }).catch(async (err) => {
            if ((await missing()).length > 0) throw err;
          });
        }
      } catch (err) {
        throw new PublishError('broker_unavailable', `could not ensure topics: ${messageOf(err)}`, { cause: err });
      }
    },

    async publish(messages: readonly OutboundMessage[]) {
      try {
        await producer.send({ messages: messages.map((m) => ({ topic: m.topic, key: m.key, value: m.value, headers: m.headers })) });
      } catch (err) {
        throw new PublishError(classify(err), messageOf(err), { cause: err });
      }
    },

    async close() {
      await Promise.allSettled([producer.close(), admin?.close()]);
    },
  };
}

function classify(err: unknown): 'broker_unavailable' | 'message_rejected' {
  for (const e of flatten(err)) {
    const apiId = (e as { apiId?: string }).apiId;
    if (apiId && MESSAGE_LEVEL_ERRORS.has(apiId)) return 'message_rejected';
  }
  return 'broker_unavailable';
}

function* flatten(err: unknown): Generator<unknown> {
  yield err;
  if (err instanceof MultipleErrors || err instanceof AggregateError) for (const inner of err.errors) yield* flatten(inner);
  const cause = (err as { cause?: unknown })?.cause;
  if (cause) yield* flatten(cause);
}

function messageOf(err: unknown): string {
  const parts = [...flatten(err)].map((e) => (e instanceof Error ? e.message : String(e)));
  return [...new Set(parts)].join(': ');
}
