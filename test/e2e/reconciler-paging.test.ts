import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closedSagaQuery } from '../../reconciler/closed-sagas';
import { reconcileOnce as reconcileOnceOn, serviceForThisFile, waitFor } from '../support/harness';

// One saga a pass, and no scheduled passes: the test runs each pass itself.
const ctx = serviceForThisFile({
  RUNNER_WORK_DIR: mkdtempSync(path.join(os.tmpdir(), 'eo-reconciler-paging-')),
  RECONCILE_BATCH_SIZE: '1',
  RECONCILE_INTERVAL_MS: String(7 * 24 * 3600 * 1000),
});

const reconcileOnce = () => reconcileOnceOn(ctx.service);

test('passes reach every closed saga, oldest included, although the sagas recorded before them still match the visibility query', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { json } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
    await ctx.api.waitForStatus(json.id, (s) => s === 'running');
    ids.push(json.id);
  }
  for (const id of ids) await ctx.service.temporal.workflow.getHandle(id).terminate('operator pulled the plug');
  const query = closedSagaQuery(ctx.service.config.temporal.taskQueue);
  await waitFor('3 closed sagas in visibility', async () => ((await ctx.service.temporal.workflow.count(query)).count === 3 ? true : undefined));

  // Before, each pass looked only at the newest `batch` candidates: once those were recorded, the rest were never seen.
  const recorded: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const summary = await reconcileOnce();
    expect(summary.recorded).toHaveLength(1);
    recorded.push(summary.recorded[0]!.executionId);
  }
  expect([...recorded].sort()).toEqual([...ids].sort());
  for (const id of ids) expect((await ctx.api.get(id)).json.status).toBe('cancelled');

  const last = await reconcileOnce();
  expect(last).toMatchObject({ examined: 3, recorded: [] });
  await waitFor('all capacity free', async () => ((await ctx.service.db.capacityReservation.count()) === 0 ? true : undefined));
}, 120_000);
