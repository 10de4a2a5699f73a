import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS, RUNTIMES } from '../../domain/runtimes';
import { RECONCILE_WORKFLOW_NAME, RECONCILER_ACTOR, WORKFLOW_NAME } from '../../domain/saga';
import type { ExecutionSagaInput } from '../../domain/saga';
import { closedSagaQuery } from '../../reconciler/closed-sagas';
import { reconcilerScheduleId } from '../../reconciler/schedule';
import { apiClient } from '../support/api-client';
import { reconcileOnce as reconcileOnceOn, serviceForThisFile, waitFor } from '../support/harness';
import { pidsOfRun } from '../support/processes';

const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-reconciler-test-'));
// A week between scheduled passes: in this test a pass runs only when the test runs it.
const ctx = serviceForThisFile({ RUNNER_WORK_DIR: workDir, CAPACITY_GLOBAL: '1', RECONCILE_INTERVAL_MS: String(7 * 24 * 3600 * 1000) });

const runProcesses = (id: string) => pidsOfRun(id);
const transitionsOf = (id: string) => ctx.service.db.executionTransition.findMany({ where: { executionId: id }, orderBy: { at: 'asc' } });
const eventTypesOf = async (id: string) => (await ctx.service.db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } })).map((e) => e.eventType);

/** Visibility lags the workflow's own state a little: wait until the reconciler's query can see `n` closed sagas. */
const closedSagasVisible = (n: number) =>
  waitFor(`${n} closed saga(s) in visibility`, async () => ((await ctx.service.temporal.workflow.count(closedSagaQuery(ctx.service.config.temporal.taskQueue))).count === n ? true : undefined));

/** One pass, run as the schedule runs it, but awaited here so its summary can be read. */
const reconcileOnce = () => reconcileOnceOn(ctx.service);

test('each worker keeps a reconciler schedule for its task queue at the configured interval', async () => {
  const description = await ctx.service.temporal.schedule.getHandle(reconcilerScheduleId(ctx.service.config.temporal.taskQueue)).describe();
  expect(description.spec.intervals).toMatchObject([{ every: ctx.service.config.reconciler.intervalMs }]);
  expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: RECONCILE_WORKFLOW_NAME, taskQueue: ctx.service.config.temporal.taskQueue });
});

test('sagas Temporal closed without recording their end are recorded once: a run timeout as timed_out (its queue place freed), a terminate as cancelled by the terminator (its script killed)', async () => {
  const { json: finished } = await ctx.api.submit({ language: 'bash', script: 'echo done' });
  expect((await ctx.api.waitForStatus(finished.id, (s) => s === 'completed')).status).toBe('completed');

  // `holder` takes the only slot; `waiter` queues behind it under a run timeout far shorter than its wait.
  const { json: holder } = await apiClient(ctx.service.api.url, await ctx.service.userKey('alice')).submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  await ctx.api.waitForStatus(holder.id, (s) => s === 'running');
  await waitFor('the holder script process', async () => (runProcesses(holder.id).length > 0 ? true : undefined));

  const waiterId = uuidv7();
  const input: ExecutionSagaInput = {
    executionId: waiterId,
    ownerId: 'bob',
    language: 'bash',
    version: RUNTIMES.bash.version,
    script: 'echo never',
    stdin: null,
    limits: DEFAULT_LIMITS,
    correlationId: waiterId,
    retryOfId: null,
    idempotencyKey: null,
    requestHash: null,
    retryPresets: ctx.service.config.retryPresets,
  };
  const waiter = await ctx.service.temporal.workflow.start(WORKFLOW_NAME, { workflowId: waiterId, taskQueue: ctx.service.config.temporal.taskQueue, args: [input], workflowRunTimeout: '3 seconds' });
  await waitFor('the waiter in the capacity queue', async () => ((await ctx.service.db.capacityReservation.findUnique({ where: { executionId: waiterId } })) ? true : undefined));
  await waitFor('the waiter run timeout', async () => ((await waiter.describe()).status.name === 'TIMED_OUT' ? true : undefined), { deadlineMs: 20_000 });
  expect((await ctx.api.get(waiterId)).json.status).toBe('queued');
  await closedSagasVisible(1);

  const first = await reconcileOnce();
  expect(first.recorded).toEqual([{ executionId: waiterId, workflowStatus: 'TIMED_OUT', status: 'timed_out' }]);
  const timedOut = (await ctx.api.get(waiterId)).json;
  expect(timedOut).toMatchObject({ status: 'timed_out', result: { errorType: 'timeout' } });
  expect((await transitionsOf(waiterId)).at(-1)).toMatchObject({ fromStatus: 'queued', toStatus: 'timed_out', actor: RECONCILER_ACTOR });
  expect(await eventTypesOf(waiterId)).toEqual(['execution_requested', 'execution_timeout']);
  expect(await ctx.service.db.capacityReservation.findUnique({ where: { executionId: waiterId } })).toBeNull();

  await ctx.service.temporal.workflow.getHandle(holder.id).terminate('operator pulled the plug');
  await closedSagasVisible(2);
  // The scheduled path this time: the schedule's own action, triggered now rather than at the next interval.
  await ctx.service.temporal.schedule.getHandle(reconcilerScheduleId(ctx.service.config.temporal.taskQueue)).trigger();
  const cancelled = await ctx.api.waitForStatus(holder.id, (s) => s === 'cancelled', 30_000);
  expect(cancelled.result.errorType).toBe('cancelled');
  expect((await transitionsOf(holder.id)).at(-1)).toMatchObject({
    fromStatus: 'running',
    toStatus: 'cancelled',
    actor: `temporal:${ctx.service.temporal.options.identity}`,
    reason: 'operator pulled the plug',
  });
  expect(await eventTypesOf(holder.id)).toEqual(['execution_requested', 'execution_started', 'execution_cancelled']);
  // The terminated run's next heartbeat finds no workflow: the activity is cancelled and the runner kills the script.
  await waitFor('the holder script to be killed', async () => (runProcesses(holder.id).length === 0 ? true : undefined), { deadlineMs: 20_000 });
  await waitFor('all capacity free', async () => ((await ctx.service.db.capacityReservation.count()) === 0 ? true : undefined));

  // Nothing is recorded twice, and a saga that ended normally is never touched.
  const again = await reconcileOnce();
  expect(again.examined).toBe(2);
  expect(again.recorded).toEqual([]);
  expect((await transitionsOf(holder.id)).map((t) => t.toStatus)).toEqual(['queued', 'running', 'cancelled']);
  expect((await transitionsOf(waiterId)).map((t) => t.toStatus)).toEqual(['queued', 'timed_out']);
  expect((await transitionsOf(finished.id)).map((t) => t.toStatus)).toEqual(['queued', 'running', 'completed']);
}, 120_000);
