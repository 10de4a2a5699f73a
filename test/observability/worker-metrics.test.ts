import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { removeReconcilerSchedule, testConfig, waitFor } from '../support/harness';
import { freeLoopbackPort } from '../../stack/port';
import { untracedWorkerBundleFile } from '../support/workflow-bundle';

test('a worker given WORKER_METRICS_ADDRESS serves the Temporal SDK’s Prometheus metrics there', async () => {
  const config = testConfig();
  const port = await freeLoopbackPort();
  // A real worker process (the Temporal runtime, and so its exporter, is one per process).
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'support', 'crashing-worker.ts')], {
    env: { ...process.env, DATABASE_URL: config.databaseUrl, TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, WORKER_METRICS_ADDRESS: `127.0.0.1:${port}`, EO_TEST_WORKFLOW_BUNDLE: await untracedWorkerBundleFile(), EO_TEST_CRASH_AT: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const metrics = await waitFor(
      'the worker’s metrics',
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return text.includes(`task_queue="${config.temporal.taskQueue}"`) ? text : undefined;
      },
      { deadlineMs: 60_000, intervalMs: 200 },
    );
    expect(metrics).toMatch(/^temporal_\w+/m);
    expect(metrics).toMatch(new RegExp(`^temporal_worker_start\\{[^}]*task_queue="${config.temporal.taskQueue}"`, 'm'));
    expect(metrics).toMatch(/^temporal_request_latency_bucket\{/m);
  } finally {
    worker.kill('SIGKILL');
    await once(worker, 'exit').catch(() => undefined);
    await removeReconcilerSchedule(config);
  }
}, 90_000);
