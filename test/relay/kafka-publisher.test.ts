import { randomUUID } from 'node:crypto';
import { createKafkaPublisher } from '../../relay/kafka-publisher';
import { PublishError } from '../../relay/publisher';

test('publishing to an unreachable broker fails as broker_unavailable within bounded time instead of retrying forever', async () => {
  const publisher = createKafkaPublisher({ brokers: ['127.0.0.1:1'], clientId: `test-${randomUUID()}`, timeoutMs: 1_000 });
  try {
    const started = Date.now();
    const error = await publisher.publish([{ topic: 'execution_started', key: 'k', value: '{}', headers: {} }]).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).kind).toBe('broker_unavailable');
    expect((error as PublishError).message).toMatch(/ECONNREFUSED|Cannot connect/);
    console.log(`unreachable broker reported after ${Date.now() - started} ms`);
  } finally {
    await publisher.close();
  }
}, 30_000);
