// A busy script must not starve the service that runs it: every process of every run is born in one cgroup
// whose CPU weight (RUNNER_CPU_WEIGHT) is below an ordinary process's, because the spawner host that forks
// the runs joined it first. Checked from outside, in the kernel's own files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../../../runners/local/cgroup';
import { createLocalRunner } from '../../../runners/local-runner';
import { isAlive, pidsOfRun } from '../../support/processes';
import { nextExecutionId, runIn } from './sandbox-support';

const WEIGHT = 25;
const runner = createLocalRunner({ heartbeatIntervalMs: 50, runsCpuWeight: WEIGHT });
afterAll(() => runner.close());

/**
 * The cgroup that weighs `pid` against the rest of the host for the CPU, and its weight on v2's scale (v1
 * shares / 10.24). v2: a run's own dir is r-<id>, and the weight of all runs together is its parent's.
 */
function cpuGroupOf(pid: number): { path: string; weight: number } {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  if (detectCgroupLayout().kind === 'hybrid') {
    const path = lines.map((line) => line.split(':')).find(([, controllers]) => controllers!.split(',').includes('cpu'))![2]!;
    return { path, weight: Math.round((Number(readFileSync(join('/sys/fs/cgroup/cpu', path, 'cpu.shares'), 'utf8')) * 100) / 1024) };
  }
  const path = join(lines.find((line) => line.startsWith('0::'))!.slice(3), '..');
  return { path, weight: Number(readFileSync(join('/sys/fs/cgroup', path, 'cpu.weight'), 'utf8')) };
}

const hasCpuController = detectCgroupLayout().cpu !== null;

(hasCpuController ? describe : describe.skip)('runs yield the CPU to the service', () => {
  it('every process of a run, the ones it forks too, is under the runs\' weight, and the worker is not', async () => {
    const executionId = nextExecutionId();
    const run = runIn(runner, 'bash', '(sleep 3 &) ; sleep 3 & sleep 3; wait', { wallTimeMs: 1_500 });
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      pids = pidsOfRun(executionId);
    }
    expect(pids.length).toBeGreaterThanOrEqual(4); // bwrap's two, the script's shell, its sleeps
    for (const pid of pids.filter(isAlive)) expect(cpuGroupOf(pid)).toEqual({ path: expect.stringMatching(/\/eo-\d+-\d+$/), weight: WEIGHT });
    expect(cpuGroupOf(process.pid).path).not.toMatch(/\/eo-\d+-\d+$/);
    expect((await run).termination).toBe('wall_timeout');
  });
});

it('a CPU weight outside cgroup v2\'s 1–10000 is refused with the range', () => {
  expect(() => createLocalRunner({ runsCpuWeight: 0 })).toThrow(/runsCpuWeight must be an integer from 1 to 10000/);
  expect(() => createLocalRunner({ runsCpuWeight: 2.5 })).toThrow(/runsCpuWeight/);
});
