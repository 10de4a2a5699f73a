import request from 'supertest';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../../api/app';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { testConfig, testLog } from '../support/harness';

const config = testConfig();
let connection: Connection;
const dbs: Db[] = [];

function appWith(databaseUrl: string) {
  const db = createDb(databaseUrl);
  dbs.push(db);
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  return createApp({ db, temporal, log: testLog, taskQueue: config.temporal.taskQueue, limitMaxima: config.limitMaxima, retryPresets: config.retryPresets, producer: config.service });
}

beforeAll(async () => {
  connection = await Connection.connect({ address: config.temporal.address });
});
afterAll(async () => {
  await Promise.all(dbs.map((db) => db.$disconnect()));
  await connection?.close();
});

test('readyz is 200 when Postgres and Temporal answer', async () => {
  const res = await request(appWith(config.databaseUrl)).get('/readyz');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'ready', checks: { postgres: { ok: true }, temporal: { ok: true } } });
});

test('readyz is 503 naming Postgres when the database does not answer', async () => {
  const res = await request(appWith('postgresql://postgres@127.0.0.1:1/nothing')).get('/readyz');
  expect(res.status).toBe(503);
  expect(res.body.status).toBe('not ready');
  expect(res.body.checks.postgres.ok).toBe(false);
  expect(res.body.checks.temporal.ok).toBe(true);
});

test('healthz answers while the process serves HTTP', async () => {
  const res = await request(appWith(config.databaseUrl)).get('/healthz');
  expect(res.status).toBe(200);
});

test('runtimes lists languages with default and maximum limits', async () => {
  const res = await request(appWith(config.databaseUrl)).get('/api/v1/runtimes');
  expect(res.status).toBe(200);
  expect(res.body.runtimes.map((r: { language: string }) => r.language).sort()).toEqual(['bash', 'node', 'python']);
  expect(res.body.maxLimits.wallTimeMs).toBe(config.limitMaxima.wallTimeMs);
});
