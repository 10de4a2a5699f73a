import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { startRelay } from '../../relay/main';
import type { RelayHandle } from '../../relay/main';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { EVENT_FOR_STATUS } from '../../domain/events';
import { detectCgroupLayout } from '../../runners/local/cgroup';
import { apiClient, TERMINAL } from '../support/api-client';
import { createTestKey, removeReconcilerSchedule, resetDatabase, testConfig, testLog, waitFor } from '../support/harness';
import { watchRuns } from '../support/processes';
import { untracedWorkerBundleFile } from '../support/workflow-bundle';

/** Every point of the saga where the worker dies: before a step, while the script runs, after a step's side effect. */
const CRASH_POINTS = [
  'validateExecution:before',
  'validateExecution:after',
  'reserveCapacity:before',
  'reserveCapacity:after',
  'markRunning:before',
  'markRunning:after',
  'runScript:before',
  'runScript:during',
  'runScript:after',
  'storeResult:before',
  'storeResult:after',
  'releaseCapacity:before',
  'releaseCapacity:after',
];
const ROUNDS = 2;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-fault-runs-'));
const config = testConfig({ RUNNER_WORK_DIR: workDir });
const workerEnv = { ...process.env, DATABASE_URL: config.databaseUrl, TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, RUNNER_WORK_DIR: workDir };
let db: Db;
let api: ApiHandle;
let adminKey: string;
let relay: RelayHandle;
let bundlePath: string;

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  adminKey = await createTestKey(db, 'admin');
  api = await startApiServer(config, testLog);
  relay = await startRelay(config, testLog);
  bundlePath = await untracedWorkerBundleFile();
}, 120_000);
afterAll(async () => {
  await removeReconcilerSchedule(config);
  await api?.stop();
  await relay?.stop();
  await db?.$disconnect();
});

function spawnWorker(crashAt: string | null): ChildProcess {
  // node itself (tsx as a loader, not its wrapper process), so the SIGKILL is seen as this child's signal.
  return spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'support', 'crashing-worker.ts')], {
    env: { ...workerEnv, EO_TEST_WORKFLOW_BUNDLE: bundlePath, EO_TEST_CRASH_AT: crashAt ?? '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** A script that runs long enough for the cgroup watcher to see every run of it (runs are sandboxed: no host file to leave a mark in). */
function sleepingScript(token: string): string {
  return ['import time', 'time.sleep(0.8)', `print("done ${token}")`].join('\n');
}

test(`SIGKILLing the worker at every saga step (${CRASH_POINTS.length * ROUNDS} kills): each execution ends in exactly one terminal state, nothing runs twice at once, nothing is written twice, capacity is free`, async () => {
  const client = apiClient(api.url, adminKey);
  const submitted: Array<{ id: string; token: string }> = [];
  let kills = 0;
  // Which worker processes ran each execution, and whether two ever ran it at once.
  const runs = watchRuns(detectCgroupLayout().unified);

  for (let round = 0; round < ROUNDS; round++) {
    for (const point of CRASH_POINTS) {
      const worker = spawnWorker(point);
      for (let i = 0; i < 2; i++) {
        const token = randomUUID();
        const { json } = await client.submit({ language: 'python', script: sleepingScript(token), limits: { wallTimeMs: 20_000 } });
        submitted.push({ id: json.id, token });
      }
      const signal = await waitFor(`the worker to die at ${point}`, async () => (worker.exitCode !== null || worker.signalCode !== null ? worker.signalCode : undefined), { deadlineMs: 90_000, intervalMs: 50 });
      expect(signal).toBe('SIGKILL');
      kills++;
    }
  }
  expect(kills).toBeGreaterThanOrEqual(20);

  const survivor = spawnWorker(null);
  try {
    await Promise.all(submitted.map(({ id }) => client.waitForStatus(id, (s) => TERMINAL.includes(s), 180_000)));
    const ids = submitted.map((s) => s.id);
    await waitFor('all capacity to be free', async () => ((await db.capacityReservation.count()) === 0 ? true : undefined), { deadlineMs: 60_000 });

    const executions = await db.execution.findMany({ where: { id: { in: ids } } });
    const byStatus = Object.groupBy(executions, (e) => e.status);
    console.log(`fault test: ${kills} kills, ${ids.length} executions:`, Object.fromEntries(Object.entries(byStatus).map(([k, v]) => [k, v!.length])));
    // A saga whose run hit more crashes than the `cautious` preset allows attempts ends in `error`, as designed.
    expect(executions.every((e) => e.status === 'completed' || (e.status === 'error' && e.errorType === 'system_error'))).toBe(true);

    runs.stop();
    expect([...runs.concurrent]).toEqual([]);
    for (const { id } of submitted) {
      const execution = executions.find((e) => e.id === id)!;
      const transitions = await db.executionTransition.findMany({ where: { executionId: id }, orderBy: { at: 'asc' } });
      const statuses = transitions.map((t) => t.toStatus);
      expect(statuses.filter((s) => TERMINAL.includes(s))).toEqual([execution.status]);
      expect([['queued', 'running', 'completed'], ['queued', 'running', 'error'], ['queued', 'error']]).toContainEqual(statuses);
      // One event per transition, numbered 1..n without gaps or repeats.
      const events = await db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } });
      expect(events.map((e) => e.sequence)).toEqual(statuses.map((_, i) => i + 1));
      expect(events.map((e) => e.eventType)).toEqual(statuses.map((st) => EVENT_FOR_STATUS[st]));
      expect(new Set(transitions.map((t) => t.eventId))).toEqual(new Set(events.map((e) => e.id)));
      if (execution.status === 'completed') expect(runs.seenUnder(id).size).toBeGreaterThanOrEqual(1);
    }
    const reruns = submitted.filter(({ id }) => runs.seenUnder(id).size > 1).length;
    console.log(`fault test: ${reruns} scripts were re-run after a crash (one after the other, never at once)`);
  } finally {
    runs.stop();
    survivor.kill('SIGTERM');
    await new Promise((resolve) => survivor.once('exit', resolve));
  }
}, 600_000);
