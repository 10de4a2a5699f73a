import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { createExecutionService } from '../../api/services/executions';
import { normalizeExecutionRequest } from '../../domain/execution-request';
import { downPart, upPart } from '../../stack';
import { expectNothingLost } from '../faults/invariants';
import type { FaultRun } from '../faults/invariants';
import { apiClient } from '../support/api-client';
import { serviceForThisFile, testLog, waitFor } from '../support/harness';

// SAGA_START=deferred: a submission answers once its row is committed, and the saga starts just after. A start
// that does not happen then (Temporal does not answer, the API that wrote the row is gone) is the sweep's: every
// API process starts, every 5 s, the queued rows that no start was seen for within SAGA_START_TIMEOUT_MS (10 s
// here: the rows a test makes without a saga stay without one until it has looked at them).
const ctx = serviceForThisFile({ SAGA_START: 'deferred', SAGA_START_TIMEOUT_MS: '10000', RELAY_POLL_INTERVAL_MS: '500' });
const job = { language: 'bash', script: 'echo deferred' } as const;

/** The executions a test made, as the fault harness reads a run (its drain timed from now). */
const runOf = (ids: string[]): FaultRun => ({ ids, inFlightAtFault: 0, faultStartedAt: Date.now(), recoveredAt: Date.now(), loadEndedAt: Date.now() });

async function post(token: string, body: object, headers: Record<string, string> = {}) {
  const res = await fetch(`${ctx.service.api.url}/api/v1/executions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> & { id: string; status: string } };
}

/**
 * Writes an execution the way an API replica does whose start never reached Temporal (it could not connect, or
 * it died just after the commit): the row is there, queued, and no saga is.
 */
async function rowWithoutSaga(ownerId: string): Promise<string> {
  const { config, db } = ctx.service;
  const nowhere = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }), namespace: config.temporal.namespace });
  const service = createExecutionService({ db, temporal: nowhere, taskQueue: config.temporal.taskQueue, retryPresets: config.retryPresets, producer: config.service, saga: { ...config.saga, startTimeoutMs: 1_000 } });
  const { execution } = await service.submit(normalizeExecutionRequest(job), { ownerId, actor: 'key:test', idempotencyKey: null, correlationId: null, traceparent: null }, testLog);
  await nowhere.connection.close();
  return execution.id;
}

const sagaExists = (id: string) => ctx.service.temporal.workflow.getHandle(id).describe().then(() => true, () => false);

test('a submission answers 201 before its saga starts (no `temporal` in its Server-Timing), and the saga then runs it; the start is recorded', async () => {
  const token = await ctx.service.userKey('deferred-plain');
  const res = await post(token, job);
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('queued');
  const timing = res.headers.get('server-timing') ?? '';
  expect(timing).toMatch(/\bdb;dur=/);
  expect(timing).not.toMatch(/\btemporal;dur=/);
  const done = await apiClient(ctx.service.api.url, token).waitForStatus(res.body.id, (s) => s === 'completed', 60_000);
  expect(done.result).toMatchObject({ exitCode: 0, stdout: 'deferred\n' });
  const row = await ctx.service.db.execution.findUniqueOrThrow({ where: { id: res.body.id } });
  expect(row.sagaStartedAt).toBeInstanceOf(Date);
}, 90_000);

test('a row whose start never reached Temporal is started by the sweep, and runs', async () => {
  const id = await rowWithoutSaga('deferred-lost');
  expect(await sagaExists(id)).toBe(false);
  expect(await ctx.service.db.execution.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'queued', sagaStartedAt: null });
  // Older than SAGA_START_TIMEOUT_MS (10 s), the next pass (each 5 s) starts it.
  const token = await ctx.service.userKey('deferred-lost');
  await apiClient(ctx.service.api.url, token).waitForStatus(id, (s) => s === 'completed', 60_000);
  expect((await ctx.service.db.execution.findUniqueOrThrow({ where: { id } })).sagaStartedAt).toBeInstanceOf(Date);
  await expectNothingLost(ctx.service, 'deferred start lost', runOf([id]));
}, 90_000);

test('a cancel before the saga exists starts it with the cancel asked: the saga records `cancelled` with who asked and why', async () => {
  const id = await rowWithoutSaga('deferred-cancel');
  const token = await ctx.service.userKey('deferred-cancel');
  const api = apiClient(ctx.service.api.url, token);
  const cancel = await api.cancel(id, 'changed my mind');
  expect(cancel.status).toBe(202);
  const done = await api.waitForStatus(id, (s) => s === 'cancelled', 30_000);
  expect(done.result).toMatchObject({ errorType: 'cancelled' });
  // The cancel reaches the saga with its start or just after its first steps: it ends before or after `running`.
  const transitions = await ctx.service.db.executionTransition.findMany({ where: { executionId: id }, orderBy: { at: 'asc' } });
  expect(transitions.at(-1)).toMatchObject({ toStatus: 'cancelled', actor: expect.stringMatching(/^key:/), reason: 'changed my mind' });
  expect(transitions.filter((t) => t.toStatus === 'cancelled')).toHaveLength(1);
  expect(await sagaExists(id)).toBe(true);
  await expectNothingLost(ctx.service, 'cancel before a deferred start', runOf([id]), { endings: ['cancelled'] });
}, 90_000);

test('Temporal stopped: POSTs are accepted (201) and wait queued; once it is back the sweep starts them and they complete — nothing lost', async () => {
  const token = await ctx.service.userKey('deferred-outage');
  const key = randomUUID();
  let ids: string[];
  await downPart('temporal');
  try {
    const asked = Date.now();
    const plain = await post(token, job);
    const keyed = await post(token, job, { 'idempotency-key': key });
    expect([plain.status, keyed.status]).toEqual([201, 201]);
    // The answer does not wait on Temporal at all.
    expect(Date.now() - asked).toBeLessThan(5_000);
    const again = await post(token, job, { 'idempotency-key': key });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(keyed.body.id);
    ids = [plain.body.id, keyed.body.id];
    const rows = await ctx.service.db.execution.findMany({ where: { id: { in: ids } } });
    expect(rows.map((r) => [r.status, r.sagaStartedAt])).toEqual([['queued', null], ['queued', null]]);
  } finally {
    await upPart('temporal');
  }
  const api = apiClient(ctx.service.api.url, token);
  for (const id of ids) await api.waitForStatus(id, (s) => s === 'completed', 120_000);
  await waitFor('both starts recorded', async () => {
    const rows = await ctx.service.db.execution.findMany({ where: { id: { in: ids } } });
    return rows.every((r) => r.sagaStartedAt !== null) ? true : undefined;
  }, { deadlineMs: 10_000 });
  await expectNothingLost(ctx.service, 'Temporal stopped under deferred POST', runOf(ids));
}, 300_000);
