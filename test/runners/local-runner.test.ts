import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRunner } from '../../runners/local-runner';
import type { RunLimits, RunObserver, RunSpec, RunnerLanguage } from '../../runners/runner';
import { pidsOfRun } from '../support/processes';

const workDir = mkdtempSync(join(tmpdir(), 'eo-runner-test-'));
const runner = createLocalRunner({ heartbeatIntervalMs: 50 });

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

const baseLimits: RunLimits = {
  wallTimeMs: 10_000,
  cpuTimeMs: 10_000,
  memoryMb: 512,
  maxOutputBytes: 64 * 1024,
  maxProcesses: 64,
  maxFileSizeBytes: 10 * 1024 * 1024,
};

let sequence = 0;
function spec(language: RunnerLanguage, script: string, overrides: Partial<Omit<RunSpec, 'limits'>> & { limits?: Partial<RunLimits> } = {}): RunSpec {
  sequence += 1;
  return {
    executionId: `exec-${process.pid}-${sequence}`,
    language,
    script,
    ...overrides,
    limits: { ...baseLimits, ...overrides.limits },
  };
}

async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An observer that counts heartbeats. */
function beatObserver(extra: RunObserver = {}): { observer: RunObserver; beats: () => number } {
  let beats = 0;
  return {
    observer: { ...extra, onHeartbeat: () => (beats += 1) },
    beats: () => beats,
  };
}

describe('local runner', () => {
  it('runs a python script and returns its stdout with exit code 0', async () => {
    const result = await runner.run(spec('python', 'print("hello from python")'));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, signal: null, stdout: 'hello from python\n', stderr: '', sandboxed: true, oomKilled: false });
    expect(result.stdoutTruncated).toBe(false);
    expect(result.wallTimeMs).toBeGreaterThanOrEqual(0);
    expect(result.finishedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime());
    expect(result.peakMemoryKb).toBeGreaterThan(0);
    expect(result.cpuTimeMs).not.toBeNull();
  });

  it('reports the exit code a bash script exits with', async () => {
    const result = await runner.run(spec('bash', 'echo out; echo err >&2; exit 3'));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
  });

  it('runs a node script with the runner’s own node', async () => {
    const result = await runner.run(spec('node', 'console.log(process.version, require("node:os").platform())'));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: `${process.version} linux\n` });
  });

  it('finds the installed interpreters and their versions', () => {
    const found = Object.fromEntries(runner.runtimes.map((r) => [r.language, r.version]));
    expect(found.node).toBe(process.versions.node);
    expect(found.python).toMatch(/^3\.\d+\.\d+$/);
    expect(found.bash).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('passes stdin to the script', async () => {
    const result = await runner.run(spec('python', 'import sys\nprint(sys.stdin.read().upper())', { stdin: 'hello stdin' }));
    expect(result.stdout).toBe('HELLO STDIN\n');
  });

  it('gives the script /box as cwd and HOME, and none of the worker’s environment', async () => {
    process.env.EO_RUNNER_TEST_SECRET = 'do-not-leak';
    try {
      const s = spec('python', 'import json, os\nprint(json.dumps({"cwd": os.getcwd(), "files": os.listdir("."), "env": dict(os.environ)}))');
      const seen = JSON.parse((await runner.run(s)).stdout) as { cwd: string; files: string[]; env: Record<string, string> };
      expect(seen.cwd).toBe('/box');
      expect(seen.files).toEqual(['main.py']);
      expect(seen.env.HOME).toBe('/box');
      expect(seen.env.LANG).toBe('C.UTF-8');
      expect(seen.env.EO_RUNNER_TEST_SECRET).toBeUndefined();
      // PWD comes from bwrap's --chdir.
      expect(Object.keys(seen.env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']);
    } finally {
      delete process.env.EO_RUNNER_TEST_SECRET;
    }
  });

  it('kills a script at the wall-time limit within a second, leaving no process behind', async () => {
    const s = spec('bash', 'sleep 30', { limits: { wallTimeMs: 1000 } });
    const started = Date.now();
    const result = await runner.run(s);
    const elapsed = Date.now() - started;
    expect(result.termination).toBe('wall_timeout');
    expect(elapsed).toBeLessThan(10_000); // killed at the limit, long before the 30 s sleep ends
    expect(result.wallTimeMs).toBeGreaterThanOrEqual(1000);
    expect(result.wallTimeMs).toBeLessThanOrEqual(2000);
    expect(pidsOfRun(s.executionId)).toEqual([]);
  });

  it('truncates stdout at the cap and flags it', async () => {
    const result = await runner.run(spec('python', 'print("x" * 3000)', { limits: { maxOutputBytes: 1000 } }));
    expect(result.termination).toBe('exited');
    expect(result.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(1000);
    expect(result.stdout).toBe('x'.repeat(1000));
    expect(result.stderrTruncated).toBe(false);
  });

  it('never cuts a multi-byte character in half at the cap', async () => {
    const result = await runner.run(spec('python', 'print("é" * 1000)', { limits: { maxOutputBytes: 1001 } }));
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stdout).toBe('é'.repeat(500));
  });

  it('kills a script that floods its output far past the cap with output_limit', async () => {
    const result = await runner.run(spec('bash', 'yes', { limits: { maxOutputBytes: 1000 } }));
    expect(result.termination).toBe('output_limit');
    expect(result.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(1000);
  });

  it.each([
    ['holding the output pipes', 'sleep 100 &\necho started'],
    ['with its output redirected away', 'sleep 100 >/dev/null 2>&1 &\necho started'],
  ])('kills a background grandchild %s left behind when the script exits', async (_case, script) => {
    const s = spec('bash', script);
    const result = await runner.run(s);
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'started\n' });
    expect(pidsOfRun(s.executionId)).toEqual([]);
  });

  it('destroy kills a running script and is safe to repeat', async () => {
    const { observer, beats } = beatObserver();
    const s = spec('python', 'import time\ntime.sleep(30)');
    const running = runner.run(s, observer);
    await waitFor(() => beats() > 0);
    expect(runner.active()).toContain(s.executionId);
    expect(pidsOfRun(s.executionId).length).toBeGreaterThan(0);

    await expect(runner.destroy(s.executionId)).resolves.toBe(true);
    const result = await running;
    expect(result.termination).toBe('killed');
    expect(pidsOfRun(s.executionId)).toEqual([]);
    expect(runner.active()).not.toContain(s.executionId);
    await expect(runner.destroy(s.executionId)).resolves.toBe(false);
  });

  it('destroy with nothing running resolves false', async () => {
    await expect(runner.destroy('never-ran')).resolves.toBe(false);
  });

  it('destroy from another runner kills a run the first one started (a restarted worker, a compensation elsewhere)', async () => {
    const { observer, beats } = beatObserver();
    const s = spec('bash', 'sleep 30');
    const running = runner.run(s, observer);
    await waitFor(() => beats() > 0);

    const other = createLocalRunner();
    await expect(other.destroy(s.executionId)).resolves.toBe(true);
    expect(pidsOfRun(s.executionId)).toEqual([]);
    expect((await running).signal).toBe('SIGKILL');
  });

  it('attaches a second run with the same execution id instead of starting another process', async () => {
    const s = spec('python', 'import time\ntime.sleep(0.3)\nprint("done")');
    const first = runner.run(s);
    const second = runner.run({ ...s });
    expect(second).toBe(first);
    expect(runner.active().filter((id) => id === s.executionId)).toHaveLength(1);
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(b);
    expect(a.stdout).toBe('done\n');

    // Once finished, the same id runs afresh.
    const again = await runner.run(s);
    expect(again).not.toBe(a);
    expect(again.stdout).toBe('done\n');
  });

  it('kills the run when the caller aborts', async () => {
    const controller = new AbortController();
    const { observer, beats } = beatObserver({ signal: controller.signal });
    const s = spec('bash', 'sleep 30');
    const running = runner.run(s, observer);
    await waitFor(() => beats() > 0);
    controller.abort();
    const result = await running;
    expect(result.termination).toBe('killed');
    expect(pidsOfRun(s.executionId)).toEqual([]);
  });

  it('keeps running while another attached caller still holds it after one aborts', async () => {
    const controller = new AbortController();
    const s = spec('python', 'import time\ntime.sleep(0.5)\nprint("finished")');
    const { observer, beats } = beatObserver({ signal: controller.signal });
    const first = runner.run(s, observer);
    void runner.run(s, { signal: new AbortController().signal }); // a second caller attached to the same run, never awaited
    await waitFor(() => beats() > 0);
    controller.abort();
    expect(pidsOfRun(s.executionId).length).toBeGreaterThan(0);
    await expect(first).resolves.toMatchObject({ termination: 'exited', stdout: 'finished\n' });
  });

  it('starts nothing when the caller has already aborted', async () => {
    const s = spec('bash', 'echo should-not-run');
    const result = await runner.run(s, { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ termination: 'killed', stdout: '', exitCode: null });
  });

  it('sends heartbeats with the elapsed time while the script runs', async () => {
    const beats: Array<{ elapsedMs: number; pid: number }> = [];
    const running = runner.run(spec('python', 'import time\ntime.sleep(0.4)'), { onHeartbeat: (info) => beats.push(info) });
    await waitFor(() => beats.length >= 3);
    await running;
    const count = beats.length;
    expect(beats.every((b) => b.pid === beats[0]?.pid)).toBe(true);
    expect(beats.map((b) => b.elapsedMs)).toEqual([...beats.map((b) => b.elapsedMs)].sort((x, y) => x - y));
    // No heartbeat after the run has finished.
    await new Promise((resolve) => setImmediate(resolve));
    expect(beats).toHaveLength(count);
  });

  it('stops a CPU spin at the CPU limit with cpu_limit', async () => {
    const result = await runner.run(spec('python', 'while True:\n    pass', { limits: { cpuTimeMs: 1000 } }));
    expect(result.termination).toBe('cpu_limit');
    expect(result.cpuTimeMs).toBeGreaterThanOrEqual(900);
  });

  it('fails a python script allocating 2 GiB under a 256 MiB limit with memory_limit, through the cgroup’s OOM killer', async () => {
    const result = await runner.run(spec('python', 'x = bytearray(2 * 1024 ** 3)', { limits: { memoryMb: 256 } }));
    expect(result).toMatchObject({ termination: 'memory_limit', oomKilled: true, signal: 'SIGKILL' });
  });

  it('fails a node script outgrowing its heap limit with memory_limit', async () => {
    const script = 'const keep = []; for (;;) keep.push(new Array(100000).fill(1.5));';
    const result = await runner.run(spec('node', script, { limits: { memoryMb: 64 } }));
    expect(result.termination).toBe('memory_limit');
  });

  it('stops a script from writing a file past the file-size limit with file_limit', async () => {
    const result = await runner.run(spec('python', 'open("big", "wb").write(b"x" * 2_000_000)', { limits: { maxFileSizeBytes: 1024 * 1024 } }));
    expect(result.termination).toBe('file_limit');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('File too large');
  });

  it('runs different executions side by side', async () => {
    const a = spec('python', 'print("a")');
    const b = spec('node', 'console.log("b")');
    const both = Promise.all([runner.run(a), runner.run(b)]);
    expect(runner.active()).toEqual(expect.arrayContaining([a.executionId, b.executionId]));
    const [ra, rb] = await both;
    expect([ra.stdout, rb.stdout]).toEqual(['a\n', 'b\n']);
  });

  it('destroy before the process has started stops the run without spawning it', async () => {
    const s = spec('bash', 'sleep 5');
    const running = runner.run(s);
    await expect(runner.destroy(s.executionId)).resolves.toBe(true);
    await expect(running).resolves.toMatchObject({ termination: 'killed', exitCode: null });
    expect(pidsOfRun(s.executionId)).toEqual([]);
  });

  it('rejects a run whose interpreter is not installed, leaving nothing active', async () => {
    const broken = createLocalRunner({ interpreters: { python: join(workDir, 'no-such-python') } });
    expect(broken.runtimes.map((r) => r.language)).not.toContain('python');
    await expect(broken.run(spec('python', 'print(1)'))).rejects.toThrow(/no python interpreter/);
    expect(broken.active()).toEqual([]);
  });

  it('refuses to be created without prlimit', () => {
    expect(() => createLocalRunner({ tools: { prlimit: join(workDir, 'no-such-prlimit') } })).toThrow(/prlimit/);
  });

  it('refuses to be created, naming the reason, where the sandbox cannot start', () => {
    expect(() => createLocalRunner({ tools: { bwrap: join(workDir, 'no-such-bwrap') } })).toThrow(/cannot sandbox scripts here: bwrap is not executable/);
    // bwrap exists but fails: /bin/false stands in for a bwrap the kernel refuses.
    expect(() => createLocalRunner({ tools: { bwrap: '/bin/false' } })).toThrow(/cannot sandbox scripts here: the probe run failed/);
  });

  it('runs unsandboxed only when told to, warns loudly, and marks every result unsandboxed', async () => {
    const warnings: string[] = [];
    const unsafe = createLocalRunner({ sandbox: 'none', workDir, log: { info: () => undefined, warn: (msg) => warnings.push(msg) } });
    expect(warnings).toEqual([expect.stringMatching(/UNSANDBOXED/)]);
    const result = await unsafe.run(spec('bash', 'echo $HOME; sleep 100 & echo bg'));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, sandboxed: false });
    expect(result.stdout.split('\n')[0]).toContain(workDir);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('rejects an execution id that is not a safe path segment', async () => {
    await expect(runner.run({ ...spec('bash', 'true'), executionId: '../escape' })).rejects.toThrow(/executionId/);
  });
});
