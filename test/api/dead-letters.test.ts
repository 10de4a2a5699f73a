import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { startRelay } from '../../relay/main';
import { createExecution } from '../../store/transitions';
import { collectKafka } from '../support/kafka-collector';
import { actorOfToken, resetDatabase, testConfig, testLog, waitFor } from '../support/harness';
import { createTestApp } from '../support/test-app';

const config = testConfig();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
/** Three executions whose execution_requested event the relay gave up on, oldest first. */
const dead: Array<{ executionId: string; eventId: string }> = [];

beforeAll(async () => {
  testApp = await createTestApp(config);
  await resetDatabase(testApp.db);
  for (let i = 0; i < 3; i++) {
    const id = uuidv7();
    await createExecution(testApp.db, { id, ownerId: 'o1', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', config.service);
    const event = await testApp.db.outboxEvent.findFirstOrThrow({ where: { executionId: id } });
    // No relay runs yet: this is the state the relay leaves an event in when Kafka keeps refusing it.
    await testApp.db.outboxEvent.update({ where: { id: event.id }, data: { state: 'dead', attempts: 10, lastError: 'MESSAGE_TOO_LARGE' } });
    dead.push({ executionId: id, eventId: event.id });
  }
});
afterAll(() => testApp?.close());

const api = () => testApp.api();
const actionsOf = (eventId: string) => testApp.db.deadLetterAction.findMany({ where: { eventId } });

test('dead letters are listed newest first, filtered and paged', async () => {
  const all = await api().get('/api/v1/dlq');
  expect(all.status).toBe(200);
  expect(all.body.items.map((i: { id: string }) => i.id)).toEqual(dead.map((d) => d.eventId).reverse());
  expect(all.body.items[0]).toMatchObject({ eventType: 'execution_requested', state: 'dead', attempts: 10, lastError: 'MESSAGE_TOO_LARGE', sequence: 1 });

  const one = await api().get('/api/v1/dlq').query({ executionId: dead[1]!.executionId });
  expect(one.body.items.map((i: { id: string }) => i.id)).toEqual([dead[1]!.eventId]);

  const first = await api().get('/api/v1/dlq').query({ limit: 2 });
  const second = await api().get('/api/v1/dlq').query({ limit: 2, cursor: first.body.nextCursor });
  expect([...first.body.items, ...second.body.items].map((i: { id: string }) => i.id)).toEqual(dead.map((d) => d.eventId).reverse());
  expect(second.body.nextCursor).toBeNull();

  expect((await api().get('/api/v1/dlq').query({ limit: 0 })).body.errors[0].field).toBe('query.limit');
});

test('bad requests name what is wrong; an unknown event is a 404', async () => {
  expect((await api().post(`/api/v1/dlq/${dead[1]!.eventId}/discard`).send({})).body.errors[0].field).toBe('reason');
  expect((await api().post('/api/v1/dlq/retry').send({})).body.errors[0].field).toBe('all');
  expect((await api().post('/api/v1/dlq/not-a-uuid/retry').send({})).body.errors[0].field).toBe('id');
  expect((await api().post(`/api/v1/dlq/${uuidv7()}/retry`).send({})).status).toBe(404);
  expect((await api().post(`/api/v1/dlq/${dead[0]!.eventId}/retry`).set('content-type', 'text/plain').send('now')).status).toBe(415);
  expect(await testApp.db.deadLetterAction.count()).toBe(0);
});

test('a retry (one, or in bulk by filter) or a discard changes the row once, with an audit row; retried events reach Kafka, a discarded one never does', async () => {
  const retried = await api().post(`/api/v1/dlq/${dead[0]!.eventId}/retry`).send({ reason: 'broker limit raised' });
  expect(retried.status).toBe(200);
  expect(retried.body).toMatchObject({ id: dead[0]!.eventId, state: 'pending', attempts: 0 });
  expect(await actionsOf(dead[0]!.eventId)).toMatchObject([{ action: 'retry', actor: actorOfToken(testApp.adminKey), reason: 'broker limit raised' }]);
  const again = await api().post(`/api/v1/dlq/${dead[0]!.eventId}/retry`).send({});
  expect(again.status).toBe(409);
  expect(again.body.detail).toContain('pending');

  const discarded = await api().post(`/api/v1/dlq/${dead[1]!.eventId}/discard`).send({ reason: 'consumer no longer exists' });
  expect(discarded.body).toMatchObject({ state: 'discarded' });
  expect(await actionsOf(dead[1]!.eventId)).toMatchObject([{ action: 'discard', actor: actorOfToken(testApp.adminKey), reason: 'consumer no longer exists' }]);

  const bulk = await api().post('/api/v1/dlq/retry').send({ eventType: 'execution_requested' });
  expect(bulk.body).toEqual({ retried: 1, ids: [dead[2]!.eventId], more: false });
  expect((await api().get('/api/v1/dlq')).body.items).toEqual([]);

  const kafka = await collectKafka(config.kafka.brokers!, ['execution_requested']);
  const relay = await startRelay(config, testLog);
  try {
    await waitFor('the retried events on Kafka', async () => (kafka.forKey(dead[0]!.executionId).length === 1 && kafka.forKey(dead[2]!.executionId).length === 1 ? true : undefined), { deadlineMs: 30_000 });
    const published = await testApp.db.outboxEvent.findMany({ where: { id: { in: dead.map((d) => d.eventId) } }, orderBy: { createdAt: 'asc' } });
    expect(published.map((e) => e.state)).toEqual(['published', 'discarded', 'published']);
    expect(kafka.forKey(dead[1]!.executionId)).toEqual([]);
  } finally {
    await relay.stop();
    await kafka.close();
  }
}, 60_000);
