import { randomUUID } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { apiClient } from '../support/api-client';
import { startService, testConfig, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';

// A namespace an operator created but did not set up (the saga's search attributes not registered): a submission
// is answered 503, naming what is missing, and its row is recorded as not started — not accepted and stuck.

const namespace = `unprepared-${randomUUID().slice(0, 8)}`;
let service: RunningService;

beforeAll(async () => {
  const connection = await Connection.connect({ address: testConfig().temporal.address });
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    // A namespace just registered is known to the frontend once its cache has it.
    await waitFor('the namespace to be served', async () => ((await connection.workflowService.describeNamespace({ namespace }).catch(() => null)) ? true : undefined), { deadlineMs: 30_000 });
  } finally {
    await connection.close();
  }
  service = await startService({ TEMPORAL_NAMESPACE: namespace, SAGA_START: 'inline' });
}, 90_000);
afterAll(() => service?.stop());

test('with inline starts (SAGA_START=inline) a submission to a namespace without the search attributes is answered 503 naming them, and its row is recorded as not started', async () => {
  const api = apiClient(service.api.url, service.adminKey);
  const res = await api.submit({ language: 'bash', script: 'true' });
  expect(res.status).toBe(503);
  expect(res.json).toMatchObject({ type: expect.stringContaining('temporal-namespace-not-set-up') });
  expect(String(res.json.detail)).toMatch(/search attribute/);
  expect(String(res.json.detail)).toContain('ExecutionState, ScriptLanguage, OwnerId');
  const rows = await service.db.execution.findMany({ where: { ownerId: 'test-admin' } });
  expect(rows.map((r) => [r.status, r.errorType])).toEqual([['error', 'system_error']]);
}, 60_000);

test('with deferred starts (SAGA_START=deferred) the submission is accepted, and Temporal\'s refusal then ends it as `error` naming the search attribute — not queued for ever', async () => {
  const deferred = await startService({ TEMPORAL_NAMESPACE: namespace, SAGA_START: 'deferred' });
  try {
    const api = apiClient(deferred.api.url, deferred.adminKey);
    const res = await api.submit({ language: 'bash', script: 'true' });
    expect(res.status).toBe(201);
    const ended = await api.waitForStatus(res.json.id, (s) => s !== 'queued', 30_000);
    expect(ended).toMatchObject({ status: 'error', result: { errorType: 'system_error' } });
    expect(String(ended.result.errorMessage)).toMatch(/refused by Temporal.*search attribute/);
  } finally {
    await deferred.stop();
  }
}, 90_000);
