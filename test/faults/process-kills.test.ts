import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { downPart, upPart } from '../../stack';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { apiClient } from '../support/api-client';
import { createTestKey, removeReconcilerSchedule, resetDatabase, testConfig, testLog, waitFor } from '../support/harness';
import { holdFault } from './fault-tools';
import { killRelayMidBatch, startRelayProcess, startWorkerProcess } from './fault-processes';
import { untracedWorkerBundleFile } from '../support/workflow-bundle';
import type { ServiceProcess } from './fault-processes';
import { expectNothingLost, loadWithFault } from './invariants';

// The relay and the worker as their own processes (their production entries), SIGKILLed at the worst moment
// under load: whatever they held must be taken up by the next one — nothing lost, order kept, no dead letter.
const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-fault-kills-'));
// Small batches: a relay holds a few rows at a time and cycles often, so the kill lands between batches too.
const config = testConfig({ RUNNER_WORK_DIR: workDir, RELAY_POLL_INTERVAL_MS: '500', RELAY_BATCH_SIZE: '5', RELAY_MAX_ATTEMPTS: '3' });
const childEnv: NodeJS.ProcessEnv = {
  ...process.env,
  DATABASE_URL: config.databaseUrl,
  TEMPORAL_ADDRESS: config.temporal.address,
  TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
  RUNNER_WORK_DIR: workDir,
  RELAY_POLL_INTERVAL_MS: '500',
  RELAY_BATCH_SIZE: '5',
  RELAY_MAX_ATTEMPTS: '3',
};
let db: Db;
let api: ApiHandle;
let client: ReturnType<typeof apiClient>;
let bundlePath: string;
let worker: ServiceProcess | undefined;
const running: ServiceProcess[] = [];
const subject = () => ({ db, config });

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  api = await startApiServer(config, testLog);
  client = apiClient(api.url, await createTestKey(db, 'admin'));
  bundlePath = await untracedWorkerBundleFile();
  worker = await startWorkerProcess('worker-1', childEnv, bundlePath);
}, 180_000);
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await removeReconcilerSchedule(config);
  await api?.stop();
  await db?.$disconnect();
}, 120_000);

const submit = async () => {
  const { status, json } = await client.submit({ language: 'bash', script: 'echo "$RANDOM"' });
  expect(status).toBe(201);
  return json.id;
};

const relay = async (name: string) => {
  const started = await startRelayProcess(name, childEnv);
  running.push(started);
  return started;
};

test('the relay SIGKILLed mid-batch (holding claimed rows between its claim and its commit), another started: every event reaches Kafka, in order, none lost', async () => {
  const first = await relay('relay-a');
  let caught: { heldRows: number; probes: number } | undefined;
  let signal = '';
  const run = await loadWithFault(subject(), submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async (inFlightNow) => {
      caught = await killRelayMidBatch(first, config.databaseUrl);
      const inFlight = await inFlightNow();
      signal = await first.exited;
      await relay('relay-b');
      return { inFlight };
    },
  });
  console.log(`relay killed mid-batch: ${JSON.stringify({ ...caught, signal })}`);
  expect(signal).toBe('SIGKILL');
  expect(caught!.heldRows).toBeGreaterThan(0);
  await expectNothingLost(subject(), 'relay SIGKILLed mid-batch', run);
}, 240_000);

test('two relays, one SIGKILLed mid-batch: the other publishes everything, in order, none lost', async () => {
  const [doomed] = await Promise.all([relay('relay-c'), relay('relay-d')]);
  let caught: { heldRows: number; probes: number } | undefined;
  const run = await loadWithFault(subject(), submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async (inFlightNow) => {
      caught = await killRelayMidBatch(doomed!, config.databaseUrl);
      return { inFlight: await inFlightNow() };
    },
  });
  console.log(`one of two relays killed mid-batch: ${JSON.stringify(caught)}`);
  expect(caught!.heldRows).toBeGreaterThan(0);
  await expectNothingLost(subject(), 'two relays, one SIGKILLed', run);
}, 240_000);

test('the worker SIGKILLed during a Kafka outage, another started, Kafka back: every execution ends once and every event reaches Kafka', async () => {
  await relay('relay-e');
  const sleepy = async () => {
    const { status, json } = await client.submit({ language: 'bash', script: 'sleep 1; echo "$RANDOM"' });
    expect(status).toBe(201);
    return json.id;
  };
  const run = await loadWithFault(subject(), sleepy, {
    count: 16,
    everyMs: 250,
    faultAfterMs: 500,
    fault: async (inFlightNow) => {
      await downPart('kafka');
      const downAt = Date.now();
      // Killed while scripts run: their activities are retried on the next worker after the heartbeat timeout.
      await waitFor('a script to be running', async () => ((await db.execution.count({ where: { status: 'running' } })) > 0 ? true : undefined), { deadlineMs: 20_000, intervalMs: 50 });
      const inFlight = await inFlightNow();
      expect(await worker!.kill()).toBe('SIGKILL');
      worker = await startWorkerProcess('worker-2', childEnv, bundlePath);
      await holdFault(20_000 - (Date.now() - downAt));
      await upPart('kafka');
      return { inFlight };
    },
  });
  await expectNothingLost(subject(), 'worker SIGKILLed during a Kafka outage', run, { deadlineMs: 180_000 });
}, 360_000);
