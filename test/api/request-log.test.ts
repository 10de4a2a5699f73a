import { Writable } from 'node:stream';
import pino from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { createExecution } from '../../store/transitions';
import { resetDatabase, testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

const config = testConfig();
const lines: Array<Record<string, unknown>> = [];
const log = pino({ level: 'debug', base: undefined }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) }));
let testApp: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  testApp = await createTestApp(config, config.databaseUrl, { log });
  await resetDatabase(testApp.db);
});
afterAll(() => testApp?.close());

test('a request logs through its own logger, carrying its correlation id and execution id, and says why the live state is missing', async () => {
  // A row without its saga: Temporal knows no such workflow, so the live state cannot be read.
  const id = uuidv7();
  await createExecution(testApp.db, { id, ownerId: 'o1', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', config.service);
  const res = await testApp.api().get(`/api/v1/executions/${id}`).set('X-Correlation-Id', 'corr-request-log');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ id, status: 'queued', live: null });
  const line = lines.find((l) => l.execution_id === id && typeof l.msg === 'string' && l.msg.startsWith('live state unavailable'));
  expect(line).toMatchObject({ correlation_id: 'corr-request-log', execution_id: id, workflow_id: id, reason: expect.stringMatching(/not found/i) });
});
