import { renderServerTiming } from '../../api/server-timing';
import { timed, timingRequest, type TimedParts } from '../../observability/request-timing';
import { resetDatabase, testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

// Inline starts, so that a POST waits on Temporal and says so (a deferred one does not: test/api/deferred-start.test.ts).
const config = testConfig({ SAGA_START: 'inline' });
let testApp: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  testApp = await createTestApp(config);
  await resetDatabase(testApp.db);
});

afterAll(() => testApp?.close());

/** `Server-Timing` as [name, ms] pairs, in the header's order. */
function partsOf(header: string | undefined): [string, number][] {
  expect(header).toBeDefined();
  return header!.split(', ').map((entry) => {
    const match = /^([a-z]+);dur=(\d+\.\d\d)$/.exec(entry);
    expect(match).not.toBeNull();
    return [match![1]!, Number(match![2])];
  });
}

const sumOf = (parts: [string, number][], names: string[]) => parts.filter(([n]) => names.includes(n)).reduce((sum, [, ms]) => sum + ms, 0);

test('a POST of an execution says what it waited on: the key, the rate limits, Postgres, Temporal, and its total', async () => {
  const res = await testApp.api().post('/api/v1/executions').send({ language: 'bash', script: 'true' });
  expect(res.status).toBe(201);
  const parts = partsOf(res.headers['server-timing']);
  // In the order first waited on; the parts after the body parser are there only if its async context was kept.
  expect(parts.map(([name]) => name)).toEqual(['auth', 'limits', 'db', 'temporal', 'total']);
  const total = parts.at(-1)![1];
  // One after the other in a POST: together no longer than the whole.
  expect(sumOf(parts, ['auth', 'limits', 'db', 'temporal'])).toBeLessThanOrEqual(total);
  expect(parts.find(([n]) => n === 'temporal')![1]).toBeGreaterThan(0);
});

test('a GET of an execution not yet ended waits on Postgres and on Temporal for its live state', async () => {
  const created = await testApp.api().post('/api/v1/executions').send({ language: 'bash', script: 'true' });
  const res = await testApp.api().get(`/api/v1/executions/${created.body.id}`);
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('queued'); // no worker here: the saga never starts
  expect(partsOf(res.headers['server-timing']).map(([name]) => name)).toEqual(['auth', 'limits', 'db', 'temporal', 'total']);
});

test('a refused request carries what it waited on before it was refused, and nothing after', async () => {
  const res = await testApp.api().post('/api/v1/executions').send({ language: 'cobol', script: 'true' });
  expect(res.status).toBe(400);
  expect(partsOf(res.headers['server-timing']).map(([name]) => name)).toEqual(['auth', 'limits', 'total']);
  const unauthenticated = await testApp.as('eo_0000000000_not-a-key').get('/api/v1/executions');
  expect(unauthenticated.status).toBe(401);
  expect(partsOf(unauthenticated.headers['server-timing']).map(([name]) => name)).toEqual(['auth', 'total']);
});

test('every route\'s Postgres time is db, timed at the driver: the dead letters\' and the API keys\' lists too', async () => {
  for (const path of ['/api/v1/dlq', '/api/v1/keys']) {
    const res = await testApp.api().get(path);
    expect([path, res.status]).toEqual([path, 200]);
    expect(partsOf(res.headers['server-timing']).map(([name]) => name)).toEqual(['auth', 'limits', 'db', 'total']);
  }
});

test('what a timed part waits on inside counts to it alone: a query in the key lookup is auth, not db', async () => {
  const parts: TimedParts = new Map();
  await new Promise<void>((done) =>
    timingRequest(parts, () => {
      void (async () => {
        // The inner wait is long and the outer one short, so that a late timer on a busy machine cannot pass
        // for the inner wait counted twice (db would then be at least 40 + 2 ms).
        await timed('auth', () => timed('db', () => new Promise((resolve) => setTimeout(resolve, 40))));
        await timed('db', () => new Promise((resolve) => setTimeout(resolve, 2)));
        done();
      })();
    }),
  );
  expect([...parts.keys()]).toEqual(['auth', 'db']);
  expect(parts.get('auth')).toBeGreaterThanOrEqual(39);
  expect(parts.get('db')).toBeGreaterThanOrEqual(1);
  expect(parts.get('db')).toBeLessThan(40);
});

test('API_SERVER_TIMING=false: no answer carries the header', async () => {
  const quiet = await createTestApp(testConfig({ API_SERVER_TIMING: 'false' }));
  try {
    const res = await quiet.api().post('/api/v1/executions').send({ language: 'bash', script: 'true' });
    expect(res.status).toBe(201);
    expect(res.headers['server-timing']).toBeUndefined();
  } finally {
    await quiet.close();
  }
});

test('outside a request, timed work just runs; the header lists parts in order, then the total', async () => {
  await expect(timed('db', async () => 42)).resolves.toBe(42);
  await expect(timed('db', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
  expect(renderServerTiming(new Map([['auth', 0.414], ['db', 12]]), 20.006)).toBe('auth;dur=0.41, db;dur=12.00, total;dur=20.01');
});

test('API_SERVER_TIMING is a boolean: anything else stops the process naming it', () => {
  expect(() => testConfig({ API_SERVER_TIMING: 'yes' })).toThrow(/API_SERVER_TIMING/);
});

test('the OpenAPI document declares Server-Timing on every answer of every operation', async () => {
  const doc = (await testApp.api().get('/api/v1/openapi.json')).body as { paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, { $ref?: string }> }> }>>; components: { headers: Record<string, unknown> } };
  expect(doc.components.headers.ServerTiming).toMatchObject({ schema: { type: 'string' } });
  const answers = Object.entries(doc.paths).flatMap(([p, operations]) => Object.entries(operations).flatMap(([method, op]) => Object.entries(op.responses).map(([code, r]) => [`${method} ${p} ${code}`, r] as const)));
  expect(answers.length).toBeGreaterThan(50);
  const without = answers.filter(([, r]) => r.headers?.['Server-Timing']?.$ref !== '#/components/headers/ServerTiming').map(([name]) => name);
  expect(without).toEqual([]);
  // The limits' 429 keeps its own headers beside it (the header maps are not shared and overwritten).
  expect(Object.keys(doc.paths['/api/v1/executions']!.post!.responses['429']!.headers!)).toEqual(['Retry-After', 'RateLimit-Policy', 'RateLimit', 'Server-Timing']);
});
