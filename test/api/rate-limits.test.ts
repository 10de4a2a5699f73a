import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { startApiServer, type ApiHandle } from '../../api/server';
import { pingRedis } from '../../stack/redis';
import { waitFor } from '../../stack/wait';
import { createDb } from '../../store/db';
import { createTestKey, resetDatabase, testConfig, testLog } from '../support/harness';

// Real API servers (HTTP, each with its own Redis and database connections) on the stack's Redis; no worker
// serves their task queue, so what they start stays queued — what the quota counts.

const servers: ApiHandle[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

/** Two API replicas of one configuration (one task queue), as two deployments of the same service would be. */
async function replicas(env: Record<string, string>, log = testLog): Promise<[ApiHandle, ApiHandle]> {
  const config = testConfig(env);
  const a = await startApiServer(config, log);
  const b = await startApiServer(config, log);
  servers.push(a, b);
  return [a, b];
}

const script = { language: 'bash', script: 'echo hi' };
const newOwner = () => `limits-${randomUUID()}`;

const db = createDb(testConfig().databaseUrl);
afterAll(() => db.$disconnect());
const keys = new Map<string, Promise<string>>();
/** A user key of `owner`, made once: limits are per key, the quota per owner. */
function keyOf(owner: string): Promise<string> {
  if (!keys.has(owner)) keys.set(owner, createTestKey(db, 'user', owner));
  return keys.get(owner)!;
}

async function call(server: ApiHandle, method: string, path: string, owner: string, body?: object) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await keyOf(owner)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

beforeAll(async () => {
  await resetDatabase(db);
});

describe('requests per second', () => {
  let a: ApiHandle, b: ApiHandle;
  beforeAll(async () => {
    [a, b] = await replicas({ RATE_LIMIT_REQUESTS_PER_SECOND: '4' });
  }, 60_000);

  test('two API servers on the same Redis share one requests-per-second limit: 6 requests split over both, 4 pass', async () => {
    const owner = newOwner();
    // At once, so all land in one 1-second window; separate limits would let all 6 through (3 per server).
    const answers = await Promise.all([a, b, a, b, a, b].map((s) => call(s, 'GET', '/api/v1/nothing-here', owner)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([404, 404, 404, 404, 429, 429]);
  });

  test('a 429 is problem+json with Retry-After, RateLimit-Policy and RateLimit', async () => {
    const owner = newOwner();
    const answers = await Promise.all(Array.from({ length: 5 }, () => call(a, 'GET', '/api/v1/nothing-here', owner)));
    const refused = answers.find((r) => r.status === 429);
    expect(refused).toBeDefined();
    const { headers, body } = refused!;
    expect(headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(body).toMatchObject({ type: expect.stringMatching(/\/rate-limited$/), status: 429, policy: 'requests', limit: 4 });
    expect(headers.get('retry-after')).toBe('1');
    expect(headers.get('ratelimit-policy')).toBe('"requests";q=4;w=1');
    expect(headers.get('ratelimit')).toBe('"requests";r=0;t=1');
  });

  test('a request within the limit says what is left in RateLimit', async () => {
    const res = await call(b, 'GET', '/api/v1/nothing-here', newOwner());
    expect(res.status).toBe(404);
    expect(res.headers.get('ratelimit')).toBe('"requests";r=3;t=1');
  });

  test('the OpenAPI document declares the 429 with its headers on limited operations, and none where no limit applies', async () => {
    const doc = (await call(b, 'GET', '/api/v1/openapi.json', newOwner())).body as { paths: Record<string, Record<string, { responses: Record<string, { headers?: object }> }>> };
    expect(Object.keys(doc.paths['/api/v1/executions/batch']!.post!.responses['429']!.headers ?? {})).toEqual(['Retry-After', 'RateLimit-Policy', 'RateLimit', 'Server-Timing']);
    expect(doc.paths['/api/v1/executions/{id}']!.get!.responses['429']).toBeDefined();
    expect(doc.paths['/readyz']!.get!.responses['429']).toBeUndefined();
  });

  test('principals have limits of their own: one owner past its limit does not limit another', async () => {
    const busy = newOwner();
    await Promise.all(Array.from({ length: 6 }, () => call(a, 'GET', '/api/v1/nothing-here', busy)));
    expect((await call(b, 'GET', '/api/v1/nothing-here', newOwner())).status).toBe(404);
  });
});

describe('executions started per minute', () => {
  let a: ApiHandle, b: ApiHandle;
  beforeAll(async () => {
    [a, b] = await replicas({ RATE_LIMIT_EXECUTIONS_PER_MINUTE: '3', QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '100' });
  }, 60_000);

  test('two API servers share one executions-per-minute limit: the 4th submission, on either, is refused with the executions policy', async () => {
    const owner = newOwner();
    const statuses = [];
    for (const server of [a, b, a]) statuses.push((await call(server, 'POST', '/api/v1/executions', owner, script)).status);
    expect(statuses).toEqual([201, 201, 201]);
    const refused = await call(b, 'POST', '/api/v1/executions', owner, script);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ policy: 'executions', limit: 3 });
    expect(refused.headers.get('ratelimit-policy')).toContain('"executions";q=3;w=60');
    expect(refused.headers.get('ratelimit')).toMatch(/"executions";r=0;t=\d+/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  test('a batch counts each item: with 2 of 3 left a batch of 3 starts nothing and spends nothing, a batch of 2 passes, then one more is refused', async () => {
    const owner = newOwner();
    expect((await call(a, 'POST', '/api/v1/executions', owner, script)).status).toBe(201);
    const tooBig = await call(a, 'POST', '/api/v1/executions/batch', owner, { items: [script, script, script] });
    expect(tooBig.status).toBe(429);
    expect(tooBig.body).toMatchObject({ policy: 'executions', limit: 3 });
    expect((await call(a, 'GET', `/api/v1/executions?owner=${owner}`, owner)).body.items).toHaveLength(1);
    // The refused batch spent nothing: 2 are still left.
    const fits = await call(b, 'POST', '/api/v1/executions/batch', owner, { items: [script, script] });
    expect(fits.status).toBe(200);
    expect(fits.body).toMatchObject({ accepted: 2, failed: 0 });
    expect((await call(a, 'POST', '/api/v1/executions', owner, script)).status).toBe(429);
  });

  test('a batch larger than the whole per-minute limit is refused saying it can never fit', async () => {
    const res = await call(b, 'POST', '/api/v1/executions/batch', newOwner(), { items: [script, script, script, script, script] });
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ policy: 'executions', limit: 3, detail: expect.stringContaining('send at most 3') });
    expect(res.headers.get('retry-after')).toBe('60');
  });

  test('invalid batch items do not count', async () => {
    const owner = newOwner();
    const res = await call(a, 'POST', '/api/v1/executions/batch', owner, { items: [script, script, script, { language: 'cobol' }] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 3, failed: 1 });
  });
});

describe('executions queued or running per owner', () => {
  let a: ApiHandle, b: ApiHandle;
  beforeAll(async () => {
    [a, b] = await replicas({ QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '2', RATE_LIMIT_EXECUTIONS_PER_MINUTE: '100' });
  }, 60_000);

  test('an owner with 2 executions queued (the quota) is refused a 3rd with 429 and Retry-After, on any server; another owner is not', async () => {
    const owner = newOwner();
    expect((await call(a, 'POST', '/api/v1/executions', owner, script)).status).toBe(201);
    expect((await call(b, 'POST', '/api/v1/executions', owner, script)).status).toBe(201);
    const refused = await call(b, 'POST', '/api/v1/executions', owner, script);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ policy: 'active-executions', limit: 2, active: 2 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The refused submission's executions-per-minute point is given back, and RateLimit says so: 100 − 2 started.
    expect(refused.headers.get('ratelimit')).toMatch(/"executions";r=98;/);
    expect((await call(a, 'POST', '/api/v1/executions', owner, script)).headers.get('ratelimit')).toMatch(/"executions";r=98;/);
    expect((await call(a, 'POST', '/api/v1/executions', newOwner(), script)).status).toBe(201);
  });

  test('submissions of one owner racing on two servers cannot pass the quota together: of 6 at once, 2 start', async () => {
    const owner = newOwner();
    const answers = await Promise.all([a, b, a, b, a, b].map((s) => call(s, 'POST', '/api/v1/executions', owner, script)));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 201, 429, 429, 429, 429]);
    expect((await call(a, 'GET', `/api/v1/executions?owner=${owner}`, owner)).body.items).toHaveLength(2);
  });

  test('a batch that would take an owner past the quota starts nothing', async () => {
    const owner = newOwner();
    expect((await call(a, 'POST', '/api/v1/executions', owner, script)).status).toBe(201);
    const refused = await call(a, 'POST', '/api/v1/executions/batch', owner, { items: [script, script] });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ policy: 'active-executions', active: 1 });
    expect((await call(a, 'GET', `/api/v1/executions?owner=${owner}`, owner)).body.items).toHaveLength(1);
  });
});

describe('Redis stopped', () => {
  let redis: ChildProcess | undefined;
  let redisUrl: string;
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info', base: undefined }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) }));

  beforeAll(async () => {
    // A Redis of this test's own, so stopping it leaves the stack's alone.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    probe.close();
    redis = spawn('/usr/bin/redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor('the test redis to answer PING', async () => (await pingRedis('127.0.0.1', port)) === undefined, { deadlineMs: 10_000, intervalMs: 50 });
    redisUrl = `redis://127.0.0.1:${port}`;
  });
  afterAll(() => {
    if (redis && redis.exitCode === null) redis.kill('SIGKILL');
  });

  test('with RATE_LIMIT_REDIS_DOWN=open, limits hold while Redis answers; once it is stopped requests pass, the outage is logged and /readyz stays 200 saying so', async () => {
    const config = testConfig({ REDIS_URL: redisUrl, RATE_LIMIT_REQUESTS_PER_SECOND: '2', RATE_LIMIT_REDIS_DOWN: 'open' });
    const server = await startApiServer(config, log);
    servers.push(server);
    const owner = newOwner();
    const before = await Promise.all(Array.from({ length: 4 }, () => call(server, 'GET', '/api/v1/nothing-here', owner)));
    expect(before.map((r) => r.status).sort()).toEqual([404, 404, 429, 429]);

    redis!.kill('SIGKILL');
    await once(redis!, 'exit');
    const after = await Promise.all(Array.from({ length: 4 }, () => call(server, 'GET', '/api/v1/nothing-here', owner)));
    expect(after.map((r) => r.status)).toEqual([404, 404, 404, 404]);
    expect(lines.filter((l) => String(l.msg).startsWith('redis unreachable: rate limits fail open'))).toHaveLength(1);

    const ready = await call(server, 'GET', '/readyz', owner);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { redis: { ok: false, mode: 'open', note: expect.stringContaining('fail open') } } });
  });

  test('with RATE_LIMIT_REDIS_DOWN=closed and Redis stopped, limited requests answer 503 problem+json with Retry-After and /readyz is 503 naming Redis', async () => {
    expect(redis?.exitCode ?? redis?.signalCode).toBeTruthy();
    const config = testConfig({ REDIS_URL: redisUrl, RATE_LIMIT_REDIS_DOWN: 'closed' });
    const server = await startApiServer(config, log);
    servers.push(server);
    const owner = newOwner();
    const res = await call(server, 'POST', '/api/v1/executions', owner, script);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: expect.stringMatching(/\/rate-limit-unavailable$/), status: 503 });
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await call(server, 'GET', `/api/v1/executions?owner=${owner}`, owner)).status).toBe(503);

    const ready = await call(server, 'GET', '/readyz', owner);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not ready', checks: { postgres: { ok: true }, temporal: { ok: true }, redis: { ok: false, mode: 'closed' } } });
  });
});
