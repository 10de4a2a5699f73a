import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiClient } from '../support/api-client';
import { actorOfToken, bearer, serviceForThisFile, waitFor } from '../support/harness';
import { pidsOfRun } from '../support/processes';

const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-cancel-test-'));
const ctx = serviceForThisFile({ RUNNER_WORK_DIR: workDir, CAPACITY_GLOBAL: '1' });

/** A run's processes: those in its cgroup. */
const runProcesses = (id: string) => pidsOfRun(id);

test('cancelling a running script kills its process, releases capacity and records cancelled with actor and reason', async () => {
  const alice = await ctx.service.userKey('alice');
  const asAlice = apiClient(ctx.service.api.url, alice);
  const { json: created } = await asAlice.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  await ctx.api.waitForStatus(created.id, (s) => s === 'running');
  await waitFor('the script process', async () => (runProcesses(created.id).length > 0 ? true : undefined));
  // The live view shows the step, the activity's attempt and its heartbeats.
  const live = await waitFor('a heartbeat in the live view', async () => {
    const { json } = await ctx.api.get(created.id);
    const view = json.live as { step: string; activity: string; attempt: number; lastHeartbeatAt: string | null } | null;
    return view?.lastHeartbeatAt ? view : undefined;
  });
  expect(live).toMatchObject({ step: 'running', activity: 'runScript', attempt: 1 });

  const cancel = await asAlice.cancel(created.id, 'user pressed stop');
  expect(cancel.status).toBe(202);
  const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'running');
  expect(done.status).toBe('cancelled');
  expect(done.result.errorType).toBe('cancelled');
  expect(runProcesses(created.id)).toEqual([]);
  // Released before the cancelled transition is recorded: nothing to wait for.
  expect(await ctx.service.db.capacityReservation.count({ where: { executionId: created.id } })).toBe(0);

  const audit = await ctx.service.db.executionTransition.findMany({ where: { executionId: created.id }, orderBy: { at: 'asc' } });
  expect(audit.at(-1)).toMatchObject({ fromStatus: 'running', toStatus: 'cancelled', actor: actorOfToken(alice), reason: 'user pressed stop' });
  const events = await ctx.service.db.outboxEvent.findMany({ where: { executionId: created.id }, orderBy: { sequence: 'asc' } });
  expect(events.map((e) => e.eventType)).toEqual(['execution_requested', 'execution_started', 'execution_cancelled']);
  expect((events[2]!.envelope as { payload: { reason: string } }).payload.reason).toBe('user pressed stop');

  const handle = ctx.service.temporal.workflow.getHandle(created.id);
  await waitFor('the workflow to close as cancelled', async () => ((await handle.describe()).status.name === 'CANCELLED' ? true : undefined));
});

test('cancelling a queued execution (capacity full) records cancelled without ever running it', async () => {
  const { json: blocker } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  await ctx.api.waitForStatus(blocker.id, (s) => s === 'running');
  const { json: queued } = await ctx.api.submit({ language: 'bash', script: 'echo never' });
  await waitFor('the second execution to wait for capacity', async () => {
    const state = await ctx.service.temporal.workflow.getHandle(queued.id).query<{ step: string }>('sagaState');
    return state.step === 'reserving_capacity' ? true : undefined;
  });

  expect((await ctx.api.cancel(queued.id)).status).toBe(202);
  const done = await ctx.api.waitForStatus(queued.id, (s) => s !== 'queued');
  expect(done.status).toBe('cancelled');
  expect(done.startedAt).toBeNull();
  const audit = await ctx.service.db.executionTransition.findMany({ where: { executionId: queued.id }, orderBy: { at: 'asc' } });
  expect(audit.map((a) => [a.fromStatus, a.toStatus])).toEqual([[null, 'queued'], ['queued', 'cancelled']]);

  await ctx.api.cancel(blocker.id);
  await ctx.api.waitForStatus(blocker.id, (s) => s === 'cancelled');
  expect(await ctx.service.db.capacityReservation.count()).toBe(0);
});

test('cancelling twice is harmless, and cancelling a finished execution is a 409', async () => {
  const { json: running } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
  await ctx.api.waitForStatus(running.id, (s) => s === 'running');
  const [first, second] = await Promise.all([ctx.api.cancel(running.id, 'one'), ctx.api.cancel(running.id, 'two')]);
  expect([first.status, second.status]).toEqual([202, 202]);
  await ctx.api.waitForStatus(running.id, (s) => s === 'cancelled');
  expect((await ctx.api.cancel(running.id)).status).toBe(202);
  expect(await ctx.service.db.executionTransition.count({ where: { executionId: running.id, toStatus: 'cancelled' } })).toBe(1);

  const { json: quick } = await ctx.api.submit({ language: 'bash', script: 'echo done' });
  await ctx.api.waitForStatus(quick.id, (s) => s === 'completed');
  const conflict = await ctx.api.cancel(quick.id);
  expect(conflict.status).toBe(409);
  expect(conflict.json).toMatchObject({ status: 409, detail: expect.stringContaining('completed') });
});

test('cancel answers 404 for an unknown execution, 400 for a bad body and 415 for a body that is not JSON', async () => {
  expect((await ctx.api.cancel('0191e8a0-0000-7000-8000-000000000000')).status).toBe(404);
  const { json: quick } = await ctx.api.submit({ language: 'bash', script: 'sleep 5' });
  const bad = await ctx.api.call('POST', `/executions/${quick.id}/cancel`, { reason: 42 });
  expect(bad.status).toBe(400);
  expect((bad.json as unknown as { errors: Array<{ field: string }> }).errors[0]!.field).toBe('reason');
  const plain = await fetch(`${ctx.service.api.url}/api/v1/executions/${quick.id}/cancel`, { method: 'POST', headers: { 'content-type': 'text/plain', ...bearer(ctx.service.adminKey) }, body: 'stop' });
  expect(plain.status).toBe(415);
  expect((await ctx.api.get(quick.id)).json.status).not.toBe('cancelled');
  await ctx.api.cancel(quick.id);
  await ctx.api.waitForStatus(quick.id, (s) => s === 'cancelled');
});
