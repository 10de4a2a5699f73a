import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { applyTransition, createExecution } from '../../store/transitions';
import { actorOfToken, createTestKey, resetDatabase, testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

// Who may do what: keys, owners, roles. Alice's executions are written through the store (no worker runs
// here); Bob is another user; the admin key sees everything.

const config = testConfig();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
let alice: string;
let bob: string;
const SECRET_SCRIPT = 'echo alice-secret-script';
/** Alice's executions: one still queued, one completed. */
const mine = { queued: uuidv7(), completed: uuidv7() };
const unknownId = '0191e8a0-0000-7000-8000-000000000000';

beforeAll(async () => {
  testApp = await createTestApp(config);
  await resetDatabase(testApp.db);
  [alice, bob] = [await createTestKey(testApp.db, 'user', 'alice'), await createTestKey(testApp.db, 'user', 'bob')];
  for (const id of [mine.queued, mine.completed]) {
    await createExecution(testApp.db, { id, ownerId: 'alice', correlationId: id, language: 'bash', version: '5', script: SECRET_SCRIPT, stdin: 'alice-stdin', limits: DEFAULT_LIMITS }, 'test', config.service);
  }
  await applyTransition(testApp.db, { executionId: mine.completed, from: ['queued'], to: 'running', actor: 'test', producer: config.service });
  await applyTransition(testApp.db, { executionId: mine.completed, from: ['running'], to: 'completed', actor: 'test', fields: { exitCode: 0, stdout: 'alice-output' }, producer: config.service });
});
afterAll(() => testApp?.close());

const rowCounts = async () => ({ executions: await testApp.db.execution.count(), transitions: await testApp.db.executionTransition.count(), events: await testApp.db.outboxEvent.count() });

describe('credentials', () => {
  const routes: Array<[string, string]> = [
    ['GET', '/api/v1/executions'],
    ['POST', '/api/v1/executions'],
    ['GET', `/api/v1/executions/${mine.queued}`],
    ['GET', '/api/v1/runtimes'],
    ['GET', '/api/v1/dlq'],
    ['GET', '/api/v1/keys'],
    ['GET', '/metrics'],
  ];

  test.each(routes)('%s %s without a key is 401 problem+json with WWW-Authenticate: Bearer', async (method, path) => {
    const res = await request(testApp.app)[method === 'GET' ? 'get' : 'post'](path);
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="execution-orchestrator"$/);
    expect(JSON.stringify(res.body)).not.toContain('alice');
  });

  test('a malformed, an unknown, a wrong-secret and a revoked key are each 401, saying the token is invalid', async () => {
    const revoked = await createTestKey(testApp.db, 'admin', 'revoked-admin');
    expect((await testApp.as(revoked).get('/api/v1/executions')).status).toBe(200);
    await testApp.api().post(`/api/v1/keys/${revoked.split('_')[1]}/revoke`).expect(200);
    const wrongSecret = `${testApp.adminKey.slice(0, -4)}AAAA` === testApp.adminKey ? `${testApp.adminKey.slice(0, -4)}BBBB` : `${testApp.adminKey.slice(0, -4)}AAAA`;
    for (const token of ['not-a-key', `eo_0123456789_${'x'.repeat(43)}`, wrongSecret, revoked]) {
      const res = await testApp.as(token).get('/api/v1/executions');
      expect([token, res.status]).toEqual([token, 401]);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="execution-orchestrator", error="invalid_token"');
    }
    const basic = await request(testApp.app).get('/api/v1/executions').set('authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`);
    expect(basic.status).toBe(401);
  });

  test('health, readiness, the OpenAPI document and the docs answer without a key', async () => {
    for (const path of ['/healthz', '/readyz', '/api/v1/openapi.json', '/docs']) {
      expect([path, (await request(testApp.app).get(path)).status]).toEqual([path, 200]);
    }
  });

  test("each use records the key's last use, written at most once a minute", async () => {
    const carol = await createTestKey(testApp.db, 'user', 'carol');
    const prefix = carol.split('_')[1]!;
    const lastUsed = async () => (await testApp.db.apiKey.findUniqueOrThrow({ where: { prefix } })).lastUsedAt;
    expect(await lastUsed()).toBeNull();
    await testApp.as(carol).get('/api/v1/executions').expect(200);
    const first = await lastUsed();
    expect(first).toBeInstanceOf(Date);
    await testApp.as(carol).get('/api/v1/executions').expect(200);
    expect(await lastUsed()).toEqual(first);
    // A minute later the next use writes again: test/auth/key-cache.test.ts (the service's clock moved on there).
  });
});

describe('isolation between owners', () => {
  const executionRoutes: Array<[string, 'get' | 'post', (id: string) => string, object | undefined]> = [
    ['get', 'get', (id) => `/api/v1/executions/${id}`, undefined],
    ['events', 'get', (id) => `/api/v1/executions/${id}/events`, undefined],
    ['stream', 'get', (id) => `/api/v1/executions/${id}/stream`, undefined],
    ['cancel', 'post', (id) => `/api/v1/executions/${id}/cancel`, { reason: 'bob says stop' }],
    ['retry', 'post', (id) => `/api/v1/executions/${id}/retry`, undefined],
  ];

  test.each(executionRoutes)("%s of another owner's execution is 404, exactly as an unknown one, and shows and changes nothing", async (_name, method, path, body) => {
    const before = await rowCounts();
    for (const id of [mine.queued, mine.completed]) {
      const theirs = await testApp.as(bob)[method](path(id)).send(body);
      const unknown = await testApp.as(bob)[method](path(unknownId)).send(body);
      expect(theirs.status).toBe(404);
      expect(theirs.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect({ ...theirs.body, detail: theirs.body.detail.replace(id, '<id>'), instance: '' }).toEqual({ ...unknown.body, detail: unknown.body.detail.replace(unknownId, '<id>'), instance: '' });
      expect(theirs.text).not.toMatch(/alice|secret|stdin|output/);
    }
    expect(await rowCounts()).toEqual(before);
    expect((await testApp.db.execution.findUniqueOrThrow({ where: { id: mine.queued } })).status).toBe('queued');
  });

  test("the owner's own key reads its executions, their events and their stream", async () => {
    const got = await testApp.as(alice).get(`/api/v1/executions/${mine.completed}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: mine.completed, ownerId: 'alice', status: 'completed' });
    expect((await testApp.as(alice).get(`/api/v1/executions/${mine.completed}/events`)).body.transitions).toHaveLength(3);
    const stream = await testApp.as(alice).get(`/api/v1/executions/${mine.completed}/stream`);
    expect(stream.text).toContain('event: end');
  });

  test("a user's list holds its own executions only, and asking for another owner's finds none", async () => {
    const ownList = await testApp.as(alice).get('/api/v1/executions');
    expect(ownList.body.items.map((e: { id: string }) => e.id).sort()).toEqual([mine.queued, mine.completed].sort());
    const bobs = await testApp.as(bob).get('/api/v1/executions');
    expect(bobs.body).toEqual({ items: [], nextCursor: null });
    const snooping = await testApp.as(bob).get('/api/v1/executions').query({ owner: 'alice' });
    expect(snooping.status).toBe(200);
    expect(snooping.body).toEqual({ items: [], nextCursor: null });
  });

  test("an admin key sees every owner's executions, their events and their stream", async () => {
    const list = await testApp.api().get('/api/v1/executions').query({ owner: 'alice' });
    expect(list.body.items.map((e: { id: string }) => e.id).sort()).toEqual([mine.queued, mine.completed].sort());
    expect((await testApp.api().get(`/api/v1/executions/${mine.completed}`)).body).toMatchObject({ ownerId: 'alice', result: { stdout: 'alice-output' } });
    expect((await testApp.api().get(`/api/v1/executions/${mine.completed}/events`)).status).toBe(200);
    expect((await testApp.api().get(`/api/v1/executions/${mine.completed}/stream`)).text).toContain('event: end');
  });

  test.each([
    ['GET', '/api/v1/dlq'],
    ['POST', '/api/v1/dlq/retry'],
    ['POST', `/api/v1/dlq/${unknownId}/retry`],
    ['POST', `/api/v1/dlq/${unknownId}/discard`],
    ['GET', '/api/v1/keys'],
    ['POST', '/api/v1/keys'],
    ['POST', '/api/v1/keys/0123456789/revoke'],
    ['GET', '/metrics'],
  ])('%s %s is 403 problem+json for a user key', async (method, path) => {
    const res = await testApp.as(alice)[method === 'GET' ? 'get' : 'post'](path).send(method === 'POST' ? { all: true, reason: 'r', ownerId: 'alice' } : undefined);
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain('eo_');
  });

  test('a submission belongs to the key\'s owner whatever the request claims, and its audit actor is the key', async () => {
    const res = await testApp.as(alice).post('/api/v1/executions').set('X-Owner-Id', 'mallory').send({ language: 'bash', script: 'true' });
    expect(res.status).toBe(201);
    expect(res.body.ownerId).toBe('alice');
    try {
      const audit = await testApp.db.executionTransition.findMany({ where: { executionId: res.body.id } });
      expect(audit).toMatchObject([{ toStatus: 'queued', actor: actorOfToken(alice) }]);
      expect(actorOfToken(alice)).toMatch(/^key:[0-9a-f]{10}$/);
    } finally {
      await testApp.terminateSaga(res.body.id);
    }
  });
});

describe('key management by admin routes', () => {
  test('an admin creates a user key, shown once; it works at once, is listed without its secret, and once revoked is refused', async () => {
    const created = await testApp.api().post('/api/v1/keys').send({ ownerId: 'dave', name: 'CI runner' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ownerId: 'dave', role: 'user', name: 'CI runner', revokedAt: null, key: expect.stringMatching(/^eo_[0-9a-f]{10}_[A-Za-z0-9_-]{43}$/) });
    expect(created.headers.location).toBe(`/api/v1/keys/${created.body.prefix}`);
    const dave: string = created.body.key;
    const secret = dave.slice(`eo_${created.body.prefix}_`.length); // base64url: may itself contain '_'
    expect(secret).toHaveLength(43);
    expect((await testApp.as(dave).get('/api/v1/executions')).status).toBe(200);

    const list = await testApp.api().get('/api/v1/keys');
    const listed = list.body.items.find((k: { prefix: string }) => k.prefix === created.body.prefix);
    expect(listed).toMatchObject({ ownerId: 'dave', role: 'user', lastUsedAt: expect.any(String), revokedAt: null });
    expect(list.text).not.toContain(secret);
    const stored = await testApp.db.apiKey.findUniqueOrThrow({ where: { prefix: created.body.prefix } });
    expect(JSON.stringify(stored)).not.toContain(secret);

    const revoked = await testApp.api().post(`/api/v1/keys/${created.body.prefix}/revoke`);
    expect(revoked.body).toMatchObject({ prefix: created.body.prefix, revokedAt: expect.any(String) });
    expect((await testApp.as(dave).get('/api/v1/executions')).status).toBe(401);
    expect((await testApp.api().post(`/api/v1/keys/${created.body.prefix}/revoke`)).body.revokedAt).toBe(revoked.body.revokedAt);
  });

  test('bad key requests name the field; an unknown prefix is 404', async () => {
    expect((await testApp.api().post('/api/v1/keys').send({ ownerId: 'has spaces' })).body.errors[0].field).toBe('ownerId');
    expect((await testApp.api().post('/api/v1/keys').send({ ownerId: 'eve', role: 'root' })).body.errors[0].field).toBe('role');
    expect((await testApp.api().post('/api/v1/keys/nope/revoke')).body.errors[0].field).toBe('prefix');
    expect((await testApp.api().post('/api/v1/keys/0123456789/revoke')).status).toBe(404);
  });
});

describe('hostile input', () => {
  const workflowsStarted = async () => (await testApp.temporal.workflow.count(`TaskQueue="${config.temporal.taskQueue}" AND WorkflowType="executionSaga"`)).count;

  test.each([
    ['a NUL in the script', '/api/v1/executions', { language: 'bash', script: 'echo a\u0000b' }, 'script'],
    ['a NUL in stdin', '/api/v1/executions', { language: 'bash', script: 'cat', stdin: 'x\u0000' }, 'stdin'],
    ['a lone high surrogate in the script', '/api/v1/executions', { language: 'python', script: 'print("\ud800")' }, 'script'],
    ['a lone low surrogate in stdin', '/api/v1/executions', { language: 'python', script: 'input()', stdin: '\udc00' }, 'stdin'],
    ['a NUL in a key of the body', '/api/v1/executions', { language: 'bash', script: 'true', limits: { 'wall\u0000': 1 } }, 'limits.wall\u0000'],
    ['a NUL in one item of a batch', '/api/v1/executions/batch', { items: [{ language: 'bash', script: 'true' }, { language: 'bash', script: '\u0000' }] }, 'items.1.script'],
    ['a NUL in a cancel reason', `/api/v1/executions/${mine.queued}/cancel`, { reason: 'stop\u0000' }, 'reason'],
    ['a lone surrogate in a dead-letter discard reason', `/api/v1/dlq/${unknownId}/discard`, { reason: '\ud83d' }, 'reason'],
    ['a NUL in a key request', '/api/v1/keys', { ownerId: 'x', name: 'a\u0000' }, 'name'],
  ])('%s is 400 problem+json naming the field, and nothing is started or written', async (_case, path, body, field) => {
    const [before, started] = [await rowCounts(), await workflowsStarted()];
    const keys = await testApp.db.apiKey.count();
    const res = await testApp.api().post(path).set('content-type', 'application/json').send(JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.errors).toEqual([{ field, message: 'must not contain NUL characters or unpaired UTF-16 surrogates' }]);
    expect(await rowCounts()).toEqual(before);
    expect(await workflowsStarted()).toBe(started);
    expect(await testApp.db.apiKey.count()).toBe(keys);
    expect((await testApp.db.execution.findUniqueOrThrow({ where: { id: mine.queued } })).status).toBe('queued');
  });

  test('a NUL in a query value is 400 naming it', async () => {
    const res = await testApp.api().get('/api/v1/executions?owner=a%00b');
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field: 'query.owner', message: 'must not contain NUL characters or unpaired UTF-16 surrogates' });
  });

  test('a well-formed surrogate pair (an emoji) is stored and read back', async () => {
    const res = await testApp.as(alice).post('/api/v1/executions').send({ language: 'python', script: 'print("\ud83d\ude00")' });
    expect(res.status).toBe(201);
    await testApp.terminateSaga(res.body.id);
    expect((await testApp.db.execution.findUniqueOrThrow({ where: { id: res.body.id } })).script).toBe('print("😀")');
  });
});

describe('the Host header, on a loopback listener', () => {
  test.each(['localhost', '127.0.0.1', '[::1]'])('Host %s with the port is served', async (name) => {
    const server = testApp.app.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const port = (server.address() as { port: number }).port;
      const res = await fetchWithHost(port, `${name}:${port}`);
      expect(res.status).toBe(200);
    } finally {
      server.close();
    }
  });

  test('another name, or a loopback name with another port, is 421 problem+json (DNS rebinding)', async () => {
    const server = testApp.app.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const port = (server.address() as { port: number }).port;
      for (const host of [`evil.example:${port}`, 'evil.example', `localhost:${port + 1}`, `127.0.0.1.nip.io:${port}`, 'localhost']) {
        const res = await fetchWithHost(port, host);
        expect([host, res.status]).toEqual([host, 421]);
        expect(res.contentType).toMatch(/^application\/problem\+json/);
      }
    } finally {
      server.close();
    }
  });

  test('a listener on a non-loopback address does not check the Host header (a proxy names the service)', async () => {
    const open = await createTestApp({ ...config, api: { ...config.api, host: '0.0.0.0' } });
    try {
      const res = await request(open.app).get('/healthz').set('host', 'orchestrator.example.com');
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

/** GET /healthz with a Host header of our choosing (fetch would not let us set it). */
async function fetchWithHost(port: number, host: string): Promise<{ status: number; contentType: string | undefined }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/healthz', headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}
