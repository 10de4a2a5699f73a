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

/**
 * Kafka protocol errors that mean the cluster cannot take writes right now (it will, without anyone changing
 * the message): the relay pauses and spends no attempt. Any other error belongs to the message — an attempt
 * is counted and, in the end, the event is dead-lettered — so an error nobody foresaw (an authorisation
 * failure, say) cannot hold the whole outbox forever.
 */
const CLUSTER_UNAVAILABLE_ERRORS = new Set([
  'BROKER_NOT_AVAILABLE',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'KAFKA_STORAGE_ERROR',
  'NOT_CONTROLLER',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'THROTTLING_QUOTA_EXCEEDED',
]);
/** The client's own codes for a broker it cannot reach or that does not answer in time. */
const CLIENT_UNREACHABLE_CODES = new Set(['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT']);
/** Socket errors of an unreachable broker. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** The relay's Kafka side on @platformatic/kafka (see README, "Kafka client" for why this client). */
export function createKafkaPublisher(opts: KafkaPublisherOptions): EventPublisher {
  const timeout = opts.timeoutMs ?? 5_000;
  const common = { clientId: opts.clientId, bootstrapBrokers: opts.brokers, timeout, connectTimeout: timeout, requestTimeout: timeout, retryDelay: 200 };
  // The idempotent producer treats `retries` of 0 or 1 (or unset) as "retry forever", which would hold the
  // relay's claim transaction open through a broker outage: 2 is the smallest bounded value.
  const producer = new Producer({ ...common, retries: 2, serializers: stringSerializers, idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
  let admin: Admin | undefined;

  const ensureTopics = async (topics: readonly string[]): Promise<void> => {
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
      throw new PublishError(classifyPublishFailure(err), `could not ensure topics: ${messageOf(err)}`, { cause: err });
    }
  };

  return {
    ensureTopics,

    async publish(messages: readonly OutboundMessage[]) {
      const send = () => producer.send({ messages: messages.map((m) => ({ topic: m.topic, key: m.key, value: m.value, headers: m.headers })) });
      try {
        await send();
        return;
      } catch (err) {
        if (!isUnknownTopic(err)) throw new PublishError(classifyPublishFailure(err), messageOf(err), { cause: err });
      }
      // A topic deleted under the relay (or never created): create it again and send once more.
      await ensureTopics([...new Set(messages.map((m) => m.topic))]);
      try {
        await send();
      } catch (err) {
        throw new PublishError(classifyPublishFailure(err), messageOf(err), { cause: err });
      }
    },

    async close() {
      await Promise.allSettled([producer.close(), admin?.close()]);
    },
  };
}

/** What a failed send means for the relay: only a cluster that cannot take writes now pauses it. */
export function classifyPublishFailure(err: unknown): 'broker_unavailable' | 'message_rejected' {
  for (const e of flatten(err)) {
    const { apiId, code } = e as { apiId?: string; code?: string };
    if (apiId && CLUSTER_UNAVAILABLE_ERRORS.has(apiId)) return 'broker_unavailable';
    if (code && (CLIENT_UNREACHABLE_CODES.has(code) || SOCKET_ERRORS.has(code))) return 'broker_unavailable';
  }
  return 'message_rejected';
}

/** The client's metadata lookup found no such topic (Kafka's UNKNOWN_TOPIC_OR_PARTITION, error code 3). */
function isUnknownTopic(err: unknown): boolean {
  return [...flatten(err)].some(
    (e) =>
      (e as { apiId?: string }).apiId === 'UNKNOWN_TOPIC_OR_PARTITION' ||
      (e instanceof Error && (e as { code?: string }).code === 'PLT_KFK_USER' && /^Unknown topic /.test(e.message)),
  );
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
