import { createKubernetesRunner } from '../../runners/kubernetes-runner';
import { createLocalRunner } from '../../runners/local-runner';
import type { RunLimits, RunObserver, Runner, RunSpec, RunnerLanguage } from '../../runners/runner';
import { waitFor } from '../support/harness';
import { kubernetesForThisFile, leftovers, removeSimulatedLogs, runningPod, simulate, type SimulatedOutcome } from '../support/kubernetes';
import { pidsOfRun } from '../support/processes';

// One contract, every runner: the same behaviours against the local runner (real scripts in the sandbox) and the
// Kubernetes runner (a real API server; kwok simulates the node, so no script executes there: each behaviour also
// says how the node ends the pod — what the script would have made of it — see test/support/kubernetes.ts).

/** A behaviour: the script (what the local runner executes) and how a simulated node ends its pod (none: it runs until killed). */
interface Behaviour {
  language: RunnerLanguage;
  script: string;
  node?: SimulatedOutcome;
  limits?: Partial<RunLimits>;
}

interface Target {
  runner: Runner;
  /** Another runner on the same backend: another worker process. */
  another(): Runner;
  /** Makes the behaviour happen once the run has started (the simulated node's part); nothing for a real one. */
  play(executionId: string, behaviour: Behaviour): Promise<void>;
  /** Waits until the run is really running on the backend. */
  started(executionId: string): Promise<void>;
  /** Whatever of the run is left on the backend (processes, pods, ConfigMaps). */
  leftovers(executionId: string): Promise<string[]>;
  /** Closes every runner it made (a local one's prepared launchers would outlive this file otherwise). */
  close(): Promise<void>;
}

/** Runners made by `make`, closed together. */
function runnersOf(make: () => Runner): { make: () => Runner; close(): Promise<void> } {
  const made: Runner[] = [];
  return {
    make: () => {
      const runner = make();
      made.push(runner);
      return runner;
    },
    close: async () => {
      await Promise.all(made.map((runner) => runner.close?.()));
    },
  };
}

const baseLimits: RunLimits = {
  wallTimeMs: 10_000,
  cpuTimeMs: 10_000,
  memoryMb: 512,
  maxOutputBytes: 64 * 1024,
  maxProcesses: 64,
  maxFileSizeBytes: 10 * 1024 * 1024,
};

let sequence = 0;
function specOf(behaviour: Behaviour): RunSpec {
  sequence += 1;
  return { executionId: `contract-${process.pid}-${sequence}`, language: behaviour.language, script: behaviour.script, limits: { ...baseLimits, ...behaviour.limits } };
}

const HELLO: Behaviour = { language: 'python', script: 'print("hello")', node: { exitCode: 0, stdout: 'hello\n' } };
const EXIT_3: Behaviour = { language: 'bash', script: 'echo out; echo err >&2; exit 3', node: { exitCode: 3, stdout: 'out\n', stderr: 'err\n' } };
const HANG: Behaviour = { language: 'bash', script: 'sleep 30' };
const SLOW_HELLO: Behaviour = { language: 'python', script: 'import time\ntime.sleep(0.5)\nprint("done")', node: { exitCode: 0, stdout: 'done\n', runFor: '500ms' } };
const PAST_WALL: Behaviour = { language: 'bash', script: 'sleep 30', limits: { wallTimeMs: 1000 }, node: { outcome: 'deadline' } };
const OOM: Behaviour = { language: 'python', script: 'x = bytearray(2 * 1024 ** 3)', limits: { memoryMb: 256 }, node: { exitCode: 137, reason: 'OOMKilled' } };
const FLOOD: Behaviour = { language: 'python', script: 'print("x" * 3000)', limits: { maxOutputBytes: 1000 }, node: { exitCode: 0, stdout: `${'x'.repeat(3000)}\n` } };
const UTF8: Behaviour = { language: 'python', script: 'print("é" * 1000)', limits: { maxOutputBytes: 1001 }, node: { exitCode: 0, stdout: `${'é'.repeat(1000)}\n` } };

function localTarget(): Target {
  const main = runnersOf(() => createLocalRunner({ heartbeatIntervalMs: 50 }));
  const others = runnersOf(() => createLocalRunner());
  return {
    runner: main.make(),
    another: others.make,
    close: async () => {
      await Promise.all([main.close(), others.close()]);
    },
    play: async () => undefined,
    started: async (executionId) => {
      await waitFor(`the processes of ${executionId}`, async () => pidsOfRun(executionId).length > 0, { deadlineMs: 10_000, intervalMs: 10 });
    },
    leftovers: async (executionId) => pidsOfRun(executionId).map((pid) => `pid ${pid}`),
  };
}

const kubernetesCluster = kubernetesForThisFile();
afterAll(() => removeSimulatedLogs());

function kubernetesTarget(): Target {
  const runners = runnersOf(() =>
    createKubernetesRunner({ kubeconfigPath: kubernetesCluster.kubeconfigPath, namespace: kubernetesCluster.namespace, heartbeatIntervalMs: 50, resyncIntervalMs: 5000 }),
  );
  return {
    runner: runners.make(),
    another: runners.make,
    close: () => runners.close(),
    play: async (executionId, behaviour) => {
      if (behaviour.node) await simulate(kubernetesCluster, executionId, behaviour.node);
    },
    started: async (executionId) => {
      await runningPod(kubernetesCluster, executionId);
    },
    leftovers: (executionId) => leftovers(kubernetesCluster, executionId),
  };
}

const targets: Array<[string, () => Target]> = [
  ['local runner', localTarget],
  ['Kubernetes runner (kwok simulated node)', kubernetesTarget],
];

describe.each(targets)('runner contract: %s', (_name, makeTarget) => {
  let target: Target;
  beforeAll(() => {
    target = makeTarget();
  });
  afterAll(() => target.close());

  /** Runs a behaviour to its end, playing the node's part. */
  async function runToEnd(behaviour: Behaviour, observer?: RunObserver) {
    const spec = specOf(behaviour);
    const running = target.runner.run(spec, observer);
    const [result] = await Promise.all([running, target.play(spec.executionId, behaviour)]);
    return { spec, result };
  }

  it('returns a script’s stdout and exit code 0', async () => {
    const { spec, result } = await runToEnd(HELLO);
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, signal: null, stdout: 'hello\n', stderr: '', stdoutTruncated: false, oomKilled: false, sandboxed: true });
    expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('reports the exit code, stdout and stderr of a failing script, and leaves nothing behind', async () => {
    const { spec, result } = await runToEnd(EXIT_3);
    expect(result).toMatchObject({ termination: 'exited', exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('ends a script at its wall-time limit with wall_timeout', async () => {
    const { spec, result } = await runToEnd(PAST_WALL);
    expect(result.termination).toBe('wall_timeout');
    expect(result.wallTimeMs).toBeGreaterThanOrEqual(900);
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('fails a script over its memory limit with memory_limit and oomKilled', async () => {
    const { spec, result } = await runToEnd(OOM);
    expect(result).toMatchObject({ termination: 'memory_limit', oomKilled: true, signal: 'SIGKILL' });
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('truncates stdout at the cap and flags it', async () => {
    const { result } = await runToEnd(FLOOD);
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stdout).toBe('x'.repeat(1000));
  });

  it('never cuts a multi-byte character in half at the cap', async () => {
    const { result } = await runToEnd(UTF8);
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stdout).toBe('é'.repeat(500));
  });

  it('destroy kills a running script, leaves nothing behind, and is safe to repeat', async () => {
    const spec = specOf(HANG);
    let beats = 0;
    const running = target.runner.run(spec, { onHeartbeat: () => (beats += 1) });
    await target.started(spec.executionId);
    await waitFor('a heartbeat', async () => beats > 0, { deadlineMs: 10_000, intervalMs: 10 });
    expect(target.runner.active()).toContain(spec.executionId);

    await expect(target.runner.destroy(spec.executionId)).resolves.toBe(true);
    expect((await running).termination).toBe('killed');
    expect(await target.leftovers(spec.executionId)).toEqual([]);
    expect(target.runner.active()).not.toContain(spec.executionId);
    await expect(target.runner.destroy(spec.executionId)).resolves.toBe(false);
  });

  it('destroy with nothing running resolves false', async () => {
    await expect(target.runner.destroy('never-ran')).resolves.toBe(false);
  });

  it('destroy from another runner kills a run the first one started (a restarted worker, a compensation elsewhere)', async () => {
    const spec = specOf(HANG);
    const running = target.runner.run(spec);
    await target.started(spec.executionId);
    await expect(target.another().destroy(spec.executionId)).resolves.toBe(true);
    expect(await target.leftovers(spec.executionId)).toEqual([]);
    expect((await running).signal).toBe('SIGKILL');
  });

  it('attaches a second run with the same execution id instead of starting another', async () => {
    const spec = specOf(SLOW_HELLO);
    const first = target.runner.run(spec);
    const second = target.runner.run({ ...spec });
    expect(second).toBe(first);
    expect(target.runner.active().filter((id) => id === spec.executionId)).toHaveLength(1);
    await target.play(spec.executionId, SLOW_HELLO);
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(b);
    expect(a.stdout).toBe('done\n');

    // Once finished, the same id runs afresh.
    const again = target.runner.run(spec);
    expect(again).not.toBe(first);
    await target.play(spec.executionId, SLOW_HELLO);
    expect((await again).stdout).toBe('done\n');
  });

  it('kills the run when the caller aborts', async () => {
    const controller = new AbortController();
    const spec = specOf(HANG);
    const running = target.runner.run(spec, { signal: controller.signal });
    await target.started(spec.executionId);
    controller.abort();
    expect((await running).termination).toBe('killed');
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('keeps running while another attached caller still holds it after one aborts', async () => {
    const controller = new AbortController();
    const spec = specOf(SLOW_HELLO);
    const first = target.runner.run(spec, { signal: controller.signal });
    void target.runner.run(spec, { signal: new AbortController().signal });
    await target.started(spec.executionId);
    controller.abort();
    await target.play(spec.executionId, SLOW_HELLO);
    await expect(first).resolves.toMatchObject({ termination: 'exited', stdout: 'done\n' });
  });

  it('starts nothing when the caller has already aborted', async () => {
    const spec = specOf(HELLO);
    const result = await target.runner.run(spec, { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ termination: 'killed', stdout: '', exitCode: null });
    expect(await target.leftovers(spec.executionId)).toEqual([]);
  });

  it('sends heartbeats with a growing elapsed time while the script runs, and none after', async () => {
    const beats: number[] = [];
    const { result } = await runToEnd(SLOW_HELLO, { onHeartbeat: (info) => beats.push(info.elapsedMs) });
    expect(result.termination).toBe('exited');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats).toEqual([...beats].sort((x, y) => x - y));
    const count = beats.length;
    await new Promise((resolve) => setImmediate(resolve));
    expect(beats).toHaveLength(count);
  });

  it('runs different executions side by side', async () => {
    const a = specOf(HELLO);
    const b = specOf({ language: 'node', script: 'console.log("b")' });
    const both = Promise.all([target.runner.run(a), target.runner.run(b)]);
    expect(target.runner.active()).toEqual(expect.arrayContaining([a.executionId, b.executionId]));
    await Promise.all([target.play(a.executionId, HELLO), target.play(b.executionId, { ...HELLO, node: { exitCode: 0, stdout: 'b\n' } })]);
    const [ra, rb] = await both;
    expect([ra.stdout, rb.stdout]).toEqual(['hello\n', 'b\n']);
  });

  it('rejects an execution id that is not a safe name', async () => {
    await expect(target.runner.run({ ...specOf(HELLO), executionId: '../escape' })).rejects.toThrow(/executionId/);
  });
});
