import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { idempotentExecutionId } from '../../api/idempotency';
import { toHttpError } from '../../api/problem';
import { createExecutionService } from '../../api/services/executions';
import { NOT_STARTED_MESSAGE, startUnstartedSweeper } from '../../api/unstarted-executions';
import { normalizeExecutionRequest } from '../../domain/execution-request';
import { downPart, upPart } from '../../stack';
import { createDb } from '../../store/db';
import { expectNothingLost } from '../faults/invariants';
import type { FaultRun } from '../faults/invariants';
import { apiClient } from '../support/api-client';
import { serviceForThisFile, testLog, waitFor } from '../support/harness';

// Postgres or Temporal gone: a POST answers 503 problem+json with Retry-After, never a 500, and never an error
// for a run that goes on. Row first, then the saga (api/services/executions.ts): with Postgres down nothing
// starts; with Temporal down the row says what happened, and nothing is lost. Stopped and started with the stack's
// own downPart/upPart, as the fault harness (test/faults) does. A POST gives Temporal 3 s here (10 s by default).
// Inline starts, whose POST answers for Temporal; deferred ones accept it and wait (test/api/deferred-start.test.ts).
const ctx = serviceForThisFile({ SAGA_START: 'inline', RELAY_POLL_INTERVAL_MS: '500', SAGA_OUTAGE_PAUSE_MS: '2000', SAGA_START_TIMEOUT_MS: '3000' });
const job = { language: 'bash', script: 'echo outage' } as const;

const sagasOfThisFile = async () => {
  const ids: string[] = [];
  for await (const wf of ctx.service.temporal.workflow.list({ query: `TaskQueue = '${ctx.service.config.temporal.taskQueue}' AND WorkflowType = 'executionSaga'` })) ids.push(wf.workflowId);
  return ids.length;
};

function expectUnavailable(res: { status: number; headers: Headers; body: Record<string, unknown> }, dependency?: string) {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  if (dependency) expect(res.body).toMatchObject({ status: 503, dependency });
}

async function post(token: string, body: object, headers: Record<string, string> = {}) {
  const res = await fetch(`${ctx.service.api.url}/api/v1/executions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> & { id: string } };
}

/** The executions a test made, as the fault harness reads a run (its drain timed from now). */
const runOf = (ids: string[]): FaultRun => ({ ids, inFlightAtFault: 0, faultStartedAt: Date.now(), recoveredAt: Date.now(), loadEndedAt: Date.now() });

test('a submission whose row cannot be written starts no saga: 503 naming Postgres, and no workflow of its id', async () => {
  const { config, temporal } = ctx.service;
  // The service on a database that refuses connections (the key check, which would answer 503 first, is passed by).
  const unreachable = createDb('postgresql://postgres@127.0.0.1:1/none');
  const service = createExecutionService({ db: unreachable, temporal, taskQueue: config.temporal.taskQueue, retryPresets: config.retryPresets, producer: config.service, saga: config.saga });
  const key = randomUUID();
  const failed: unknown = await service.submit(normalizeExecutionRequest(job), { ownerId: 'outage-rows', actor: 'key:test', idempotencyKey: key, correlationId: null, traceparent: null }, testLog).catch((err: unknown) => err);
  // What the error middleware answers with it.
  expect(toHttpError(failed)).toMatchObject({ status: 503, extras: { dependency: 'postgres' }, headers: { 'Retry-After': '5' } });
  await expect(temporal.workflow.getHandle(idempotentExecutionId('outage-rows', key)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  await unreachable.$disconnect();
});

test('Postgres stopped: POST answers 503 problem+json with Retry-After, no saga starts, and the same request succeeds once it is back', async () => {
  const token = await ctx.service.userKey('outage-postgres');
  const key = randomUUID();
  const sagasBefore = await sagasOfThisFile();
  await downPart('postgres');
  try {
    expectUnavailable(await post(token, job));
    expectUnavailable(await post(token, job, { 'idempotency-key': key }));
    expect(await sagasOfThisFile()).toBe(sagasBefore);
  } finally {
    await upPart('postgres');
  }
  const accepted = await waitFor('the POST accepted again', async () => {
    const res = await post(token, job, { 'idempotency-key': key });
    return res.status === 201 ? res.body : undefined;
  }, { deadlineMs: 60_000, intervalMs: 500 });
  // Temporal's visibility lists a started saga a moment after its start (CI once read it too early: 0 against 1).
  const sagasAfter = await waitFor('the saga in Temporal\'s visibility', async () => {
    const count = await sagasOfThisFile();
    return count > sagasBefore ? count : undefined;
  }, { deadlineMs: 10_000, intervalMs: 100 });
  expect(sagasAfter).toBe(sagasBefore + 1);
  await expectNothingLost(ctx.service, 'Postgres stopped under POST', runOf([accepted.id]));
}, 180_000);

test('Temporal stopped: POST answers 503; the row is recorded `error` at once (no key) or waits for the same request (key), and one nobody retries is ended by the sweep — nothing lost', async () => {
  const token = await ctx.service.userKey('outage-temporal');
  const owner = 'outage-temporal';
  const [retried, abandoned] = [randomUUID(), randomUUID()];
  await downPart('temporal');
  let noKeyId: string;
  try {
    // SAGA_START_TIMEOUT_MS bounds the wait: 3 s here, where the default would take 10.
    const asked = Date.now();
    expectUnavailable(await post(token, job), 'temporal');
    expect(Date.now() - asked).toBeLessThan(8_000);
    expectUnavailable(await post(token, job, { 'idempotency-key': retried }), 'temporal');
    expectUnavailable(await post(token, job, { 'idempotency-key': abandoned }), 'temporal');
    const rows = await ctx.service.db.execution.findMany({ where: { ownerId: owner }, orderBy: { createdAt: 'asc' } });
    expect(rows).toHaveLength(3);
    noKeyId = rows.find((r) => r.idempotencyKey === null)!.id;
    // Visible at once: never to run, and why.
    expect(rows.map((r) => [r.idempotencyKey, r.status, r.errorMessage])).toEqual([
      [null, 'error', NOT_STARTED_MESSAGE],
      [retried, 'queued', null],
      [abandoned, 'queued', null],
    ]);
  } finally {
    await upPart('temporal');
  }
  // The same request again starts the waiting row and answers it.
  const again = await waitFor('the retried POST accepted', async () => {
    const res = await post(token, job, { 'idempotency-key': retried });
    return res.status === 200 ? res : undefined;
  }, { deadlineMs: 90_000, intervalMs: 500 });
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  const retriedId = idempotentExecutionId(owner, retried);
  expect(again.body.id).toBe(retriedId);
  await apiClient(ctx.service.api.url, token).waitForStatus(retriedId, (s) => s === 'completed', 90_000);

  // Nobody asked again for the other: once past the grace, the sweep finds no saga for it and records `error`.
  const sweeper = startUnstartedSweeper({ db: ctx.service.db, temporal: ctx.service.temporal, producer: ctx.service.config.service, log: testLog, graceMs: 1 });
  try {
    expect(await sweeper.sweepOnce()).toBe(1);
  } finally {
    sweeper.stop();
  }
  const abandonedId = idempotentExecutionId(owner, abandoned);
  expect(await ctx.service.db.execution.findUnique({ where: { id: abandonedId } })).toMatchObject({ status: 'error', errorMessage: NOT_STARTED_MESSAGE });
  await expectNothingLost(ctx.service, 'Temporal stopped under POST', runOf([noKeyId!, retriedId, abandonedId]), { endings: ['completed', 'error'] });
}, 300_000);
