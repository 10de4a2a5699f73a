import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadIsolateWatchdog } from '../../workflow-threads/isolate-watchdog';
import { workerWithSharedWatchdog } from '../../workflow-threads/shared-watchdog-worker';
import type { answers, spinsForever } from './fixtures/looping-workflows';

// A real Temporal worker with the shared watchdog (the dev server of the global setup): a workflow stuck in a loop
// fails its task at the SDK's deadlock deadline (5 s), stopped by the shared thread, and the same worker goes on with others.
test('a workflow task stuck in a loop is stopped by the shared watchdog, and the worker serves the next workflow', async () => {
  const load = loadIsolateWatchdog();
  if ('unavailable' in load) throw new Error(`isolate watchdog: ${load.unavailable}`);
  const address = process.env.TEMPORAL_ADDRESS!;
  const taskQueue = `watchdog-${randomUUID()}`;
  const before = load.addon.stats();
  const worker = await workerWithSharedWatchdog(load.addonPath).create({
    connection: await NativeConnection.connect({ address }),
    taskQueue,
    workflowsPath: require.resolve('./fixtures/looping-workflows'),
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  try {
    await worker.runUntil(async () => {
      const stuck = await client.workflow.start<typeof spinsForever>('spinsForever', { taskQueue, workflowId: `stuck-${randomUUID()}` });
      let failure: string | undefined;
      for (const deadline = Date.now() + 30_000; !failure && Date.now() < deadline; ) {
        const history = await stuck.fetchHistory();
        failure = history.events?.find((event) => event.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
        if (!failure) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(failure).toMatch(/Script execution timed out after 5000ms/);
      await stuck.terminate('test over');
      const answer = await client.workflow.execute<typeof answers>('answers', { taskQueue, workflowId: `answers-${randomUUID()}`, args: ['after the stuck one'] });
      expect(answer).toBe('after the stuck one');
    });
  } finally {
    await connection.close();
  }
  const after = load.addon.stats();
  // The stop came from the shared thread, not node's per-call watchdog, and every call into workflow code went through it.
  expect(after.terminations).toBeGreaterThan(before.terminations);
  expect(after.guardedCalls - before.guardedCalls).toBeGreaterThanOrEqual(10);
}, 90_000);
