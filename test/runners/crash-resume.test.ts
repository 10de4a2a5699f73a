import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { createLocalRunner } from '../../runners/local-runner';
import { detectCgroupLayout } from '../../runners/local/cgroup';
import { waitFor } from '../support/harness';
import { isAlive, pidsOfRun } from '../support/processes';

const limits = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 256, maxOutputBytes: 1024, maxProcesses: 16, maxFileSizeBytes: 1 << 20 };

/** Starts a stand-in worker process that begins a run; resolves once the run's script and its setsid child are up. */
async function workerWithRun(executionId: string): Promise<{ worker: ChildProcess; pids: number[] }> {
  // node itself with tsx as a loader (not tsx's wrapper process), so the SIGKILL hits the runner's host.
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'run-and-hang.ts'), executionId], { stdio: 'ignore' });
  // bwrap (2) + bash + its sleep + the setsid sleep
  const pids = await waitFor('the worker’s script and its setsid child', async () => {
    const found = pidsOfRun(executionId);
    return found.length >= 5 ? found : undefined;
  });
  return { worker, pids };
}

async function sigkill(worker: ChildProcess): Promise<void> {
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));
}

test('a run’s processes, a setsid double fork included, are gone within 1 s of its worker process being SIGKILLed', async () => {
  const executionId = uuidv7();
  const { worker, pids } = await workerWithRun(executionId);
  const killedAt = performance.now();
  await sigkill(worker);
  await waitFor('the orphaned run to die', async () => (pids.some(isAlive) ? undefined : true), { deadlineMs: 5_000, intervalMs: 5 });
  const latencyMs = performance.now() - killedAt;
  expect(latencyMs).toBeLessThan(1_000);
  expect(pidsOfRun(executionId)).toEqual([]);
}, 30_000);

test('a run retried after its worker process was SIGKILLed runs afresh and never beside its predecessor', async () => {
  const executionId = uuidv7();
  const { worker, pids } = await workerWithRun(executionId);
  await sigkill(worker);

  const runner = createLocalRunner({ heartbeatIntervalMs: 50 });
  let overlapped = false;
  const result = await runner.run(
    { executionId, language: 'bash', script: 'sleep 0.5; echo second run', limits },
    { onHeartbeat: () => (overlapped ||= pids.some(isAlive)) },
  );
  expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'second run\n' });
  expect(overlapped).toBe(false);
  expect(pids.some(isAlive)).toBe(false);
}, 30_000);

test('a new runner sweeps the cgroups a dead worker process left behind', async () => {
  const executionId = uuidv7();
  const { worker } = await workerWithRun(executionId);
  const ownerDir = `eo-${worker.pid}-`;
  const { unified } = detectCgroupLayout();
  const leftovers = () => readdirSync(unified).filter((name) => name.startsWith(ownerDir));
  await sigkill(worker);
  expect(leftovers()).toHaveLength(1); // the dead worker could not clean up

  const runner = createLocalRunner();
  // run() waits for the start-up sweep, so after one run the sweep has happened.
  await runner.run({ executionId: uuidv7(), language: 'bash', script: 'true', limits });
  expect(leftovers()).toEqual([]);
  expect(pidsOfRun(executionId)).toEqual([]);
}, 30_000);

test('a worker process that closes its runner leaves no cgroup dir of its own behind, in any hierarchy', async () => {
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'run-and-close.ts'), uuidv7()], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  worker.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code] = (await once(worker, 'exit')) as [number | null];
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const { unified, memory, pids, cpu } = detectCgroupLayout();
  const hierarchies = [unified, memory, pids, cpu].filter((dir): dir is string => dir !== null);
  expect(hierarchies.flatMap((dir) => readdirSync(dir).filter((name) => name.startsWith(`eo-${worker.pid}-`)))).toEqual([]);
}, 30_000);
