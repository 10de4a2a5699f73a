import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { createLocalRunner } from '../../runners/local-runner';
import { pidsWorkingIn } from '../support/processes';
import { waitFor } from '../support/harness';

/** Alive and not a zombie. */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const limits = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 256, maxOutputBytes: 1024, maxProcesses: 16, maxFileSizeBytes: 1 << 20 };

/**
 * Starts a stand-in worker that begins a run, SIGKILLs it, and retries the run in this process;
 * `beforeRetry` may tamper with what the dead worker left. Returns whether the orphan ever ran beside the retry.
 */
async function crashAndRetry(beforeRetry: (paths: { workDir: string; executionId: string }) => void = () => undefined) {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-crash-'));
  const executionId = uuidv7();
  const runDir = path.join(workDir, executionId);
  // node itself with tsx as a loader (not tsx's wrapper process), so the SIGKILL hits the runner's host.
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'run-and-hang.ts'), workDir, executionId], { stdio: 'ignore' });
  const orphans = await waitFor('the first worker’s script', async () => {
    const pids = pidsWorkingIn(runDir).filter((pid) => pid !== worker.pid);
    return pids.length > 0 ? pids : undefined;
  });
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));
  // The detached script outlives its worker.
  expect(pidsWorkingIn(runDir).some((pid) => orphans.includes(pid))).toBe(true);
  beforeRetry({ workDir, executionId });

  const runner = createLocalRunner({ workDir, heartbeatIntervalMs: 50 });
  const orphanAlive = () => orphans.some(isAlive);
  let overlapped = false;
  const result = await runner.run(
    { executionId, language: 'bash', script: 'sleep 0.5; echo second run', limits },
    { onHeartbeat: () => (overlapped ||= orphanAlive()) },
  );
  return { result, overlapped, orphanAliveAfter: orphanAlive() };
}

test('a run retried after its worker process was SIGKILLed kills the orphaned script first, so two never run at once', async () => {
  const { result, overlapped, orphanAliveAfter } = await crashAndRetry();
  expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'second run\n' });
  expect(overlapped).toBe(false);
  expect(orphanAliveAfter).toBe(false);
}, 30_000);

test('the orphan is found through its run directory when the worker died before writing the pid record', async () => {
  const { result, overlapped, orphanAliveAfter } = await crashAndRetry(({ workDir, executionId }) => rmSync(path.join(workDir, '.meta', `${executionId}.json`), { force: true }));
  expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'second run\n' });
  expect(overlapped).toBe(false);
  expect(orphanAliveAfter).toBe(false);
}, 30_000);

test('a script whose worker died is still killed just past its wall limit, by the timeout wrapper, with no retry to do it', async () => {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-crash-'));
  const executionId = uuidv7();
  const runDir = path.join(workDir, executionId);
  const wallTimeMs = 1_500;
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'run-and-hang.ts'), workDir, executionId, String(wallTimeMs)], { stdio: 'ignore' });
  const started = Date.now();
  const orphans = await waitFor('the worker’s script', async () => {
    const pids = pidsWorkingIn(runDir).filter((pid) => pid !== worker.pid);
    return pids.length > 0 ? pids : undefined;
  });
  worker.kill('SIGKILL');
  await new Promise((resolve) => worker.once('exit', resolve));
  expect(orphans.some(isAlive)).toBe(true);
  // The script sleeps 60 s; it must be gone long before that.
  await waitFor('the orphaned script to be killed', async () => (orphans.some(isAlive) || pidsWorkingIn(runDir).length > 0 ? undefined : true), { deadlineMs: 15_000 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(wallTimeMs);
}, 30_000);
