import type request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import type { Language } from '../../domain/runtimes';
import { applyTransition, createExecution } from '../../store/transitions';
import { resetDatabase, testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

const config = testConfig();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
let db: Awaited<ReturnType<typeof createTestApp>>['db'];
const created: Array<{ id: string; owner: string; language: Language; running: boolean }> = [];

beforeAll(async () => {
  testApp = await createTestApp(config);
  ({ db } = testApp);
  await resetDatabase(db);
  for (let i = 0; i < 7; i++) {
    const entry = { id: uuidv7(), owner: i % 2 ? 'bob' : 'alice', language: (i % 3 ? 'python' : 'bash') as Language, running: i % 4 === 0 };
    await createExecution(db, { id: entry.id, ownerId: entry.owner, correlationId: entry.id, language: entry.language, version: '3', script: 'x', stdin: null, limits: DEFAULT_LIMITS }, 'test', config.service);
    if (entry.running) await applyTransition(db, { executionId: entry.id, from: ['queued'], to: 'running', actor: 'test', producer: config.service });
    created.push(entry);
  }
});
afterAll(() => testApp?.close());

test('pages through every execution, newest first, without repeats', async () => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res: request.Response = await testApp.api().get('/api/v1/executions').query({ limit: 3, ...(cursor ? { cursor } : {}) });
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(3);
    seen.push(...res.body.items.map((e: { id: string }) => e.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  expect(seen).toEqual(created.map((c) => c.id).reverse());
});

test('filters by status, language and owner', async () => {
  const res = await testApp.api().get('/api/v1/executions').query({ status: 'running', owner: 'alice' });
  expect(res.body.items.map((e: { id: string }) => e.id).sort()).toEqual(created.filter((c) => c.running && c.owner === 'alice').map((c) => c.id).sort());
  const bash = await testApp.api().get('/api/v1/executions').query({ language: 'bash' });
  expect(bash.body.items).toHaveLength(created.filter((c) => c.language === 'bash').length);
});

test.each([
  [{ status: 'sleeping' }, 'query.status'],
  [{ limit: '0' }, 'query.limit'],
  [{ limit: '1000' }, 'query.limit'],
  [{ cursor: 'bm90LWEtY3Vyc29y' }, 'query.cursor'],
  [{ colour: 'red' }, 'query.colour'],
])('a bad query %o is a 400 naming %s', async (query, field) => {
  const res = await testApp.api().get('/api/v1/executions').query(query);
  expect(res.status).toBe(400);
  expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
});

test('the events of an execution are its audit trail and its outbox, in order', async () => {
  const running = created.find((c) => c.running)!;
  const res = await testApp.api().get(`/api/v1/executions/${running.id}/events`);
  expect(res.status).toBe(200);
  expect(res.body.transitions.map((t: { from: string | null; to: string }) => [t.from, t.to])).toEqual([[null, 'queued'], ['queued', 'running']]);
  expect(res.body.events.map((e: { envelope: { event_type: string } }) => e.envelope.event_type)).toEqual(['execution_requested', 'execution_started']);
  expect((await testApp.api().get(`/api/v1/executions/${uuidv7()}/events`)).status).toBe(404);
});
