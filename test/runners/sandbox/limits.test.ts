// Scripts that try to take more than their share: each is stopped by its run's cgroup, rlimits or the
// runner, classified precisely, and the host is unaffected.
import { spawnSync } from 'node:child_process';
import { classifyRun } from '../../../activities/run-outcome';
import { createLocalRunner } from '../../../runners/local-runner';
import { pidsOfRun } from '../../support/processes';
import { nextExecutionId, runIn } from './sandbox-support';

const runner = createLocalRunner({ heartbeatIntervalMs: 50 });
const MiB = 1024 * 1024;
afterAll(() => runner.close());

describe('a greedy script in the sandbox', () => {
  it('fork-bombs into its pids limit while the host keeps spawning processes', async () => {
    const executionId = nextExecutionId();
    const bomb = runIn(runner, 'bash', 'bomb() { bomb & bomb; wait; }; bomb', { maxProcesses: 32, wallTimeMs: 3_000 });
    let most = 0;
    let hostSpawns = 0;
    const watch = setInterval(() => {
      most = Math.max(most, pidsOfRun(executionId).length);
      // The host is not starved of processes: a probe spawns fine while the bomb runs.
      if (spawnSync('/bin/true').status === 0) hostSpawns += 1;
    }, 50);
    const result = await bomb;
    clearInterval(watch);
    expect(result.termination).toBe('wall_timeout');
    expect(most).toBeGreaterThan(10);
    expect(most).toBeLessThanOrEqual(32 + 2); // the script's 32 plus bwrap's two
    expect(hostSpawns).toBeGreaterThan(20);
    expect(pidsOfRun(executionId)).toEqual([]);
  });

  it('that fails because forks were refused ends with process_limit', async () => {
    const script = `import os, sys
children = 0
try:
    while True:
        if os.fork() == 0:
            import time; time.sleep(5); os._exit(0)
        children += 1
except OSError as e:
    print(children, e, file=sys.stderr)
    sys.exit(1)`;
    const result = await runIn(runner, 'python', script, { maxProcesses: 16 });
    expect(result.termination).toBe('process_limit');
    expect(classifyRun(result)).toMatchObject({ status: 'failed', errorType: 'resource_limit' });
  });

  it('allocating 300 MB under 128 MB is OOM-killed: resource_limit with the OOM recorded', async () => {
    const result = await runIn(runner, 'python', 'x = bytearray(300 * 1024 * 1024)', { memoryMb: 128 });
    expect(result).toMatchObject({ termination: 'memory_limit', oomKilled: true });
    expect(result.peakMemoryKb).toBeLessThanOrEqual(128 * 1024);
    expect(classifyRun(result)).toEqual({ status: 'failed', errorType: 'resource_limit', errorMessage: 'memory limit reached (OOM-killed)' });
  });

  it('spreading memory over many processes is held to the limit of the run as a whole', async () => {
    // Four processes of 60 MB each: every one is within the limit, together they are not.
    const script = `for i in 1 2 3 4; do python3 -c 'import time; x = bytearray(60 * 1024 * 1024); time.sleep(3)' & done; wait`;
    const result = await runIn(runner, 'bash', script, { memoryMb: 128 });
    expect(result).toMatchObject({ termination: 'memory_limit', oomKilled: true });
    expect(result.peakMemoryKb).toBeLessThanOrEqual(128 * 1024);
  });

  it('reports peak memory within 10 % of what the script allocated', async () => {
    const allocated = 200 * MiB;
    const result = await runIn(runner, 'python', `x = bytearray(${allocated})`, { memoryMb: 512 });
    expect(result.termination).toBe('exited');
    const peakBytes = result.peakMemoryKb! * 1024;
    expect(Math.abs(peakBytes - allocated) / allocated).toBeLessThan(0.1);
  });

  it('filling its work dir or /tmp past the cap gets ENOSPC, and the run ends with file_limit', async () => {
    for (const dir of ['/box', '/tmp']) {
      const result = await runIn(runner, 'bash', `dd if=/dev/zero of=${dir}/fill bs=1M count=200; df -k ${dir} | tail -1; exit 1`, { memoryMb: 256 });
      expect(result.stderr).toContain('No space left on device');
      const sizeKb = Number(result.stdout.trim().split('\n').at(-1)!.split(/\s+/)[1]);
      expect(sizeKb).toBe(64 * 1024);
      expect(result.termination).toBe('file_limit');
    }
  });

  it('printing 100 MB is stopped with output_limit', async () => {
    const result = await runIn(runner, 'python', 'import sys\nfor _ in range(100):\n    sys.stdout.write("x" * 1024 * 1024)', { maxOutputBytes: 64 * 1024 });
    expect(result.termination).toBe('output_limit');
    expect(result.stdout).toHaveLength(64 * 1024);
    expect(classifyRun(result).errorType).toBe('resource_limit');
  });

  it('ignoring SIGTERM past the wall limit is killed anyway: timeout', async () => {
    const executionId = nextExecutionId();
    const result = await runIn(runner, 'bash', "trap '' TERM; sleep 30", { wallTimeMs: 1_000 });
    expect(result.termination).toBe('wall_timeout');
    expect(result.wallTimeMs).toBeLessThan(2_000);
    expect(classifyRun(result)).toMatchObject({ status: 'timed_out', errorType: 'timeout' });
    expect(pidsOfRun(executionId)).toEqual([]);
  });

  it('a setsid double fork is gone when the run ends', async () => {
    const executionId = nextExecutionId();
    const result = await runIn(runner, 'bash', '(setsid sleep 300 &); (setsid sh -c "sleep 300" >/dev/null 2>&1 &); echo left');
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'left\n' });
    expect(pidsOfRun(executionId)).toEqual([]);
  });

  it('a 2 s CPU spin under a 1 s CPU limit is a timeout', async () => {
    const result = await runIn(runner, 'python', 'import time\nend = time.process_time() + 2\nwhile time.process_time() < end: pass\nprint("finished")', { cpuTimeMs: 1_000 });
    expect(result.termination).toBe('cpu_limit');
    expect(result.stdout).toBe('');
    expect(result.cpuTimeMs).toBeGreaterThanOrEqual(900);
    expect(result.cpuTimeMs).toBeLessThan(1_500);
    expect(classifyRun(result)).toMatchObject({ status: 'timed_out', errorType: 'timeout' });
  });

  it('CPU spread over several processes counts against one limit for the run', async () => {
    // Each spinner alone stays under RLIMIT_CPU (1 s); the cgroup sees 3 of them together.
    const spin = `python3 -c 'import time\nend = time.process_time() + 0.8\nwhile time.process_time() < end: pass'`;
    const result = await runIn(runner, 'bash', `${spin} & ${spin} & ${spin} & wait; echo survived`, { cpuTimeMs: 1_000 });
    expect(result.termination).toBe('cpu_limit');
    expect(result.stdout).toBe('');
  });
});
