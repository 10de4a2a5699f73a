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
    // 3 attempts (retries: 2) of at most the 1 s timeout each, with 200 ms between them; a refused connection is faster.
    expect(Date.now() - started).toBeLessThan(5_000);
  } finally {
    await publisher.close();
  }
}, 30_000);
