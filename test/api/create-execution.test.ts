import { randomUUID } from 'node:crypto';
import { createTestKey, resetDatabase, testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

const config = testConfig();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
let db: Awaited<ReturnType<typeof createTestApp>>['db'];

beforeAll(async () => {
  testApp = await createTestApp(config);
  ({ db } = testApp);
  await resetDatabase(db);
});

afterAll(() => testApp?.close());

async function expectNothingCreated() {
  expect(await db.execution.count()).toBe(0);
  expect(await db.outboxEvent.count()).toBe(0);
  const { count } = await testApp.temporal.workflow.count(`TaskQueue="${config.temporal.taskQueue}" AND WorkflowType="executionSaga"`);
  expect(count).toBe(0);
}

const valid = { language: 'python', script: 'print(1)' };

test.each([
  ['an unknown language', { ...valid, language: 'cobol' }, 'language'],
  ['an empty script', { ...valid, script: '' }, 'script'],
  ['a blank script', { ...valid, script: '  \n ' }, 'script'],
  ['a missing script', { language: 'python' }, 'script'],
  ['a wall limit above the maximum', { ...valid, limits: { wallTimeMs: 10 * 60 * 60 * 1000 } }, 'limits.wallTimeMs'],
  ['a memory limit above the maximum', { ...valid, limits: { memoryMb: 1_000_000 } }, 'limits.memoryMb'],
  ['a negative limit', { ...valid, limits: { cpuTimeMs: -1 } }, 'limits.cpuTimeMs'],
  ['an unknown limit', { ...valid, limits: { gpus: 1 } }, 'limits.gpus'],
  ['an unknown field', { ...valid, priority: 'high' }, 'priority'],
  ['a version the runtime does not provide', { ...valid, version: '2.7' }, 'version'],
])('%s is refused with 400 problem+json naming the field, and nothing is created', async (_case, body, field) => {
  const res = await testApp.api().post('/api/v1/executions').send(body);
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 400, title: 'Invalid request', instance: '/api/v1/executions' });
  expect(res.body.type).toMatch(/validation-error$/);
  expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  expect(res.body.detail).toContain(field);
  await expectNothingCreated();
});

test('malformed JSON is refused with 400 problem+json', async () => {
  const res = await testApp.api().post('/api/v1/executions').set('content-type', 'application/json').send('{"language": "python", ');
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.type).toMatch(/malformed-json$/);
  expect(res.body.errors).toEqual([{ field: '(body)', message: 'is not valid JSON' }]);
  await expectNothingCreated();
});

test('a body that is not JSON is refused with 415 problem+json', async () => {
  const res = await testApp.api().post('/api/v1/executions').set('content-type', 'text/plain').send('print(1)');
  expect(res.status).toBe(415);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.detail).toMatch(/application\/json/);
  await expectNothingCreated();
});

test('a body above the size cap is refused with 413 problem+json', async () => {
  const res = await testApp.api().post('/api/v1/executions').send({ ...valid, script: 'x'.repeat(300 * 1024) });
  expect(res.status).toBe(413);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  await expectNothingCreated();
});

test('an id that is not a UUID is refused with 400 naming the id', async () => {
  const res = await testApp.api().get('/api/v1/executions/not-a-uuid');
  expect(res.status).toBe(400);
  expect(res.body.errors).toEqual([{ field: 'id', message: 'must be a UUID' }]);
});

test('an execution that does not exist is a 404 problem', async () => {
  const res = await testApp.api().get('/api/v1/executions/0191e8a0-0000-7000-8000-000000000000');
  expect(res.status).toBe(404);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
});

test('a valid request creates a queued execution with a Location', async () => {
  const res = await testApp.api().post('/api/v1/executions').send(valid);
  expect(res.status).toBe(201);
  expect(res.headers.location).toBe(`/api/v1/executions/${res.body.id}`);
  expect(res.body).toMatchObject({ status: 'queued', language: 'python', version: '3', limits: { wallTimeMs: 10_000 } });
  const row = await db.execution.findUniqueOrThrow({ where: { id: res.body.id } });
  expect(row.workflowId).toBe(res.body.id);
  // No worker polls this task queue: stop the workflow we started so it does not linger.
  await testApp.terminateSaga(res.body.id, 'test cleanup');
});

describe('Idempotency-Key', () => {
  // Keys are unique per run: the workflow ids they name outlive the database reset in Temporal's history.
  const run = randomUUID().slice(0, 8);
  const post = (key: string, body: object) => testApp.api().post('/api/v1/executions').set('Idempotency-Key', key.includes(' ') ? key : `${key}-${run}`).send(body);
  const terminate = (id: string) => testApp.terminateSaga(id, 'test cleanup').catch(() => undefined);

  test('the same key with the same body returns the same execution, created once', async () => {
    const first = await post('key-same', valid);
    const again = await post('key-same', { ...valid, limits: {} });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(await db.execution.count({ where: { id: first.body.id } })).toBe(1);
    expect(await db.outboxEvent.count({ where: { executionId: first.body.id } })).toBe(1);
    await terminate(first.body.id);
  });

  test('the same key with a different body is a 422 problem and creates nothing more', async () => {
    const first = await post('key-diff', valid);
    const other = await post('key-diff', { ...valid, script: 'print(2)' });
    expect(other.status).toBe(422);
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(other.body.detail).toContain(`key-diff-${run}`);
    expect(await db.execution.count({ where: { idempotencyKey: `key-diff-${run}` } })).toBe(1);
    await terminate(first.body.id);
  });

  test('racing requests with one key start one execution', async () => {
    const responses = await Promise.all(Array.from({ length: 5 }, () => post('key-race', valid)));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(await db.execution.count({ where: { idempotencyKey: `key-race-${run}` } })).toBe(1);
    await terminate(responses[0]!.body.id);
  });

  test('a key is per owner', async () => {
    const [alice, bob] = [await createTestKey(db, 'user', 'alice'), await createTestKey(db, 'user', 'bob')];
    const mine = await testApp.as(alice).post('/api/v1/executions').set('Idempotency-Key', `key-owner-${run}`).send(valid);
    const theirs = await testApp.as(bob).post('/api/v1/executions').set('Idempotency-Key', `key-owner-${run}`).send(valid);
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(mine.body.id).not.toBe(theirs.body.id);
    await Promise.all([terminate(mine.body.id), terminate(theirs.body.id)]);
  });

  test('a malformed key is a 400 naming the header', async () => {
    const res = await post('has spaces', valid);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('header Idempotency-Key');
  });
});

test('GET of an execution whose saga no worker has picked up answers at once: its stored status, and the saga not yet begun', async () => {
  // No worker polls this file's task queue: a workflow query would wait for one until its deadline and answer
  // nothing (live: null); the description alone shows the saga has not begun.
  const created = await testApp.api().post('/api/v1/executions').send(valid);
  expect(created.status).toBe(201);
  await testApp.sagaStarted(created.body.id as string);
  const started = performance.now();
  const res = await testApp.api().get(`/api/v1/executions/${created.body.id as string}`);
  const elapsedMs = performance.now() - started;
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('queued');
  expect(res.body.live).toEqual({ step: 'validating', capacityPosition: null, outagePauses: 0, activity: null, attempt: null, lastHeartbeatAt: null });
  expect(elapsedMs).toBeLessThan(5_000);
});
