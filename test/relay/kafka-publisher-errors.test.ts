import { randomUUID } from 'node:crypto';
import { Admin } from '@platformatic/kafka';
import { classifyPublishFailure, createKafkaPublisher } from '../../relay/kafka-publisher';
import type { PublishError } from '../../relay/publisher';
import { waitFor } from '../../stack/wait';
import { collectKafka } from '../support/kafka-collector';

const brokers = (process.env.KAFKA_BROKERS ?? '').split(',');

describe('the Kafka publisher on a real broker', () => {
  const clientId = `test-${randomUUID()}`;
  const publisher = createKafkaPublisher({ brokers, clientId, timeoutMs: 3_000, partitions: 1 });
  const admin = new Admin({ clientId, bootstrapBrokers: brokers });
  afterAll(async () => {
    await publisher.close();
    await admin.close();
  });

  it('creates a topic deleted under it again and delivers the message, instead of stalling on it', async () => {
    const topic = `deleted-${randomUUID()}`;
    await publisher.ensureTopics([topic]);
    await publisher.publish([{ topic, key: 'before', value: '{}', headers: {} }]);
    await admin.deleteTopics({ topics: [topic] });
    await waitFor('the topic to be gone', async () => !(await admin.listTopics()).includes(topic), { deadlineMs: 15_000, intervalMs: 200 });

    await publisher.publish([{ topic, key: 'after', value: '{"n":1}', headers: {} }]);

    const collector = await collectKafka(brokers, [topic]);
    try {
      await waitFor('the message in the recreated topic', async () => collector.forKey('after').length === 1, { deadlineMs: 15_000, intervalMs: 100 });
      expect(collector.forKey('after')[0]?.value).toBe('{"n":1}');
    } finally {
      await collector.close();
    }
  }, 60_000);

  it('counts an error it does not recognise against the message (an attempt spent), not as a broker outage', async () => {
    // Before, every unrecognised error was "broker unavailable", which spends no attempt: one such message was
    // claimed again forever and held the whole outbox. Only a broker that cannot take writes now pauses the relay.
    expect(classifyPublishFailure(new Error('TOPIC_AUTHORIZATION_FAILED, or anything nobody foresaw'))).toBe('message_rejected');
    expect(classifyPublishFailure(Object.assign(new Error('not authorised'), { apiId: 'TOPIC_AUTHORIZATION_FAILED' }))).toBe('message_rejected');
    // And the real thing: what the client throws for a broker that is not there.
    const unreachable = createKafkaPublisher({ brokers: ['127.0.0.1:1'], clientId, timeoutMs: 1_000 });
    try {
      const error = await unreachable.publish([{ topic: 'execution_started', key: 'k', value: '{}', headers: {} }]).then(
        () => null,
        (err: unknown) => err,
      );
      expect(classifyPublishFailure((error as PublishError).cause)).toBe('broker_unavailable');
    } finally {
      await unreachable.close();
    }
  }, 30_000);
});
