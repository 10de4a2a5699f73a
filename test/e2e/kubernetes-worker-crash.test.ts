import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectTemporalClient } from '../../temporal-connection';
import type { Connection } from '@temporalio/client';
import { startApiServer, type ApiHandle } from '../../api/server';
import { codecKeyring } from '../../config';
import { RECONCILE_WORKFLOW_NAME } from '../../domain/saga';
import { createDataConverter } from '../../payload-codec/encryption-codec';
import { startRelay, type RelayHandle } from '../../relay/main';
import { createDb, type Db } from '../../store/db';
import { apiClient } from '../support/api-client';
import { createTestKey, removeReconcilerSchedule, resetDatabase, testConfig, testLog, waitFor } from '../support/harness';
import { untracedWorkerBundleFile } from '../support/workflow-bundle';
import { kubernetesForThisFile, leftovers, removeSimulatedLogs, runPod, runningPod, simulate } from '../support/kubernetes';

// A worker SIGKILLed while its script runs in a pod (RUNNER=kubernetes, kwok simulated node): the pod outlives it;
// the retried run on another worker attaches to that pod (never a second one); a pod whose saga ended without its
// compensation is collected by the reconciler.

const cluster = kubernetesForThisFile();
const env = { RUNNER: 'kubernetes', KUBERNETES_KUBECONFIG: cluster.kubeconfigPath, KUBERNETES_NAMESPACE: cluster.namespace };
const config = testConfig(env);
let db: Db;
let api: ApiHandle;
let relay: RelayHandle;
let adminKey: string;
let bundlePath: string;
let temporal: Client;
let connection: Connection;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  adminKey = await createTestKey(db, 'admin');
  api = await startApiServer(config, testLog);
  relay = await startRelay(config, testLog);
  connection = await connectTemporalClient(config.temporal);
  temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(codecKeyring(config)) });
  bundlePath = await untracedWorkerBundleFile();
}, 120_000);

afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  await removeReconcilerSchedule(config);
  await api?.stop();
  await relay?.stop();
  await connection?.close();
  await db?.$disconnect();
  removeSimulatedLogs();
});

function spawnWorker(): ChildProcess {
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'support', 'crashing-worker.ts')], {
    env: {
      ...process.env,
      ...env,
      DATABASE_URL: config.databaseUrl,
      TEMPORAL_ADDRESS: config.temporal.address,
      TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
      EO_TEST_WORKFLOW_BUNDLE: bundlePath,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  workers.push(worker);
  return worker;
}

const died = (worker: ChildProcess) =>
  waitFor('the worker to die', async () => (worker.exitCode !== null || worker.signalCode !== null ? (worker.signalCode ?? String(worker.exitCode)) : undefined), { deadlineMs: 90_000, intervalMs: 50 });

async function stop(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  worker.kill('SIGTERM');
  await new Promise((resolve) => worker.once('exit', resolve));
}

test('a worker SIGKILLed while its script runs in a pod on the kwok simulated node: the retried run attaches to the same pod and completes', async () => {
  const client = apiClient(api.url, adminKey);
  const crashing = spawnWorker();
  const { json: created } = await client.submit({ language: 'python', script: 'print("survived")', limits: { wallTimeMs: 60_000 } });
  const before = await runningPod(cluster, created.id, 60_000);
  crashing.kill('SIGKILL'); // while the script runs in its pod
  expect(await died(crashing)).toBe('SIGKILL');
  // The pod outlives its worker.
  expect((await runPod(cluster, created.id))?.metadata?.uid).toBe(before.metadata?.uid);

  const survivor = spawnWorker();
  try {
    // The retried attempt (after the heartbeat timeout) attaches: the pod's uid is the one the dead worker made.
    await waitFor('the run’s second attempt to heartbeat on the survivor', async () => {
      const { raw } = await temporal.workflow.getHandle(created.id).describe();
      const run = raw.pendingActivities?.find((a) => a.activityType?.name === 'runScript');
      return (run?.attempt ?? 0) >= 2 && run?.lastHeartbeatTime ? true : undefined;
    }, { deadlineMs: 60_000, intervalMs: 200 });
    expect((await runPod(cluster, created.id))?.metadata?.uid).toBe(before.metadata?.uid);
    await simulate(cluster, created.id, { exitCode: 0, stdout: 'survived\n' });
    const done = await client.waitForStatus(created.id, (s) => s !== 'queued' && s !== 'running', 90_000);
    expect(done).toMatchObject({ status: 'completed', result: { stdout: 'survived\n', exitCode: 0 } });
    await waitFor('the run pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0);
  } finally {
    await stop(survivor);
  }
}, 240_000);

test('a pod left by a SIGKILLed worker whose saga was then terminated is collected by the reconciler', async () => {
  const client = apiClient(api.url, adminKey);
  const crashing = spawnWorker();
  const { json: created } = await client.submit({ language: 'bash', script: 'sleep 600', limits: { wallTimeMs: 120_000 } });
  await runningPod(cluster, created.id, 60_000);
  crashing.kill('SIGKILL');
  expect(await died(crashing)).toBe('SIGKILL');
  // An operator terminates the saga: no compensation runs, the pod is left behind.
  await temporal.workflow.getHandle(created.id).terminate('operator stop');
  expect(await runPod(cluster, created.id)).toBeDefined();

  const survivor = spawnWorker();
  try {
    // Passes until the terminated saga shows in Temporal's visibility (it lags a little), as the schedule would run them.
    await waitFor('a reconciler pass to record the terminated saga', async () => {
      await temporal.workflow.execute(RECONCILE_WORKFLOW_NAME, {
        taskQueue: config.temporal.taskQueue,
        workflowId: `reconcile-test-${randomUUID()}`,
        args: [{ retryPresets: config.retryPresets }],
      });
      return (await client.get(created.id)).json.status === 'cancelled' ? true : undefined;
    }, { deadlineMs: 60_000, intervalMs: 500 });
    await waitFor('the orphaned pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0, { deadlineMs: 30_000 });
  } finally {
    await stop(survivor);
  }
}, 240_000);
