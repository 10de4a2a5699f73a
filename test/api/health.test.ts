import request from 'supertest';
import { testConfig } from '../support/harness';
import { detectRuntimes } from '../../runners/local/runtime-registry';
import { createTestApp } from '../support/test-app';

const config = testConfig();
const opened: Array<Awaited<ReturnType<typeof createTestApp>>> = [];

async function appWith(databaseUrl: string) {
  const testApp = await createTestApp(config, databaseUrl);
  opened.push(testApp);
  return testApp;
}

afterAll(() => Promise.all(opened.map((t) => t.close())));

test('readyz is 200 when Postgres and Temporal answer', async () => {
  const res = await request((await appWith(config.databaseUrl)).app).get('/readyz');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'ready', checks: { postgres: { ok: true }, temporal: { ok: true } } });
});

test('readyz is 503 naming Postgres when the database does not answer', async () => {
  const res = await request((await appWith('postgresql://postgres@127.0.0.1:1/nothing')).app).get('/readyz');
  expect(res.status).toBe(503);
  expect(res.body.status).toBe('not ready');
  expect(res.body.checks.postgres.ok).toBe(false);
  expect(res.body.checks.temporal.ok).toBe(true);
});

test('healthz answers while the process serves HTTP', async () => {
  const res = await request((await appWith(config.databaseUrl)).app).get('/healthz');
  expect(res.status).toBe(200);
});

test('runtimes lists languages with default and maximum limits', async () => {
  const res = await (await appWith(config.databaseUrl)).api().get('/api/v1/runtimes');
  expect(res.status).toBe(200);
  expect(res.body.runtimes.map((r: { language: string }) => r.language).sort()).toEqual(['bash', 'node', 'python']);
  expect(res.body.maxLimits.wallTimeMs).toBe(config.limitMaxima.wallTimeMs);
});

test('runtimes lists the interpreters installed on this host with the versions they report', async () => {
  const installedRuntimes = detectRuntimes().map(({ language, version }) => ({ language, version }));
  const testApp = await createTestApp(config, config.databaseUrl, { installedRuntimes });
  opened.push(testApp);
  const res = await testApp.api().get('/api/v1/runtimes');
  expect(res.body.runtimes).toContainEqual({ language: 'node', version: process.versions.node });
  expect(res.body.runtimes).toContainEqual({ language: 'python', version: expect.stringMatching(/^3\.\d+\.\d+$/) });
});

test('the event JSON Schemas are served, one per event type, with the envelope and payload fields required', async () => {
  const res = await (await appWith(config.databaseUrl)).api().get('/api/v1/schemas/events');
  expect(res.status).toBe(200);
  expect(Object.keys(res.body.schemas).sort()).toEqual(['execution_cancelled', 'execution_completed', 'execution_failed', 'execution_requested', 'execution_started', 'execution_timeout']);
  const started = res.body.schemas.execution_started;
  expect(started.required).toEqual(expect.arrayContaining(['event_id', 'event_type', 'aggregate_id', 'correlation_id', 'producer', 'payload']));
  expect(started.properties.payload.required).toEqual(['execution_id', 'started_at']);
  expect(res.body.topics.execution_failed).toEqual({ topic: 'execution_failed', key: 'execution id', dlqTopic: 'execution_failed.dlq' });
});
