import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRunner } from '../../runners/local-runner';
import { readStat } from '../../runners/local/proc';
import type { RunLimits, RunObserver, RunSpec, RunnerLanguage } from '../../runners/runner';

const workDir = mkdtempSync(join(tmpdir(), 'eo-runner-test-'));
const scratch = mkdtempSync(join(tmpdir(), 'eo-runner-scratch-'));
const runner = createLocalRunner({ workDir, heartbeatIntervalMs: 50 });

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
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

/** Live (non-zombie) processes whose process group is `pgid`. */
function liveGroupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = readStat(pid);
      return stat !== null && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X';
    });
}

function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}

/** An observer that records the group leader's pid from the first heartbeat. */
function pidObserver(extra: RunObserver = {}): { observer: RunObserver; pid: () => number | undefined } {
  let pid: number | undefined;
  return {
    observer: { ...extra, onHeartbeat: (info) => (pid ??= info.pid) },
    pid: () => pid,
  };
}

describe('local runner', () => {
  it('runs a python script and returns its stdout with exit code 0', async () => {
    const result = await runner.run(spec('python', 'print("hello from python")'));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0, signal: null, stdout: 'hello from python\n', stderr: '' });
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

  it('passes stdin to the script', async () => {
    const result = await runner.run(spec('python', 'import sys\nprint(sys.stdin.read().upper())', { stdin: 'hello stdin' }));
    expect(result.stdout).toBe('HELLO STDIN\n');
  });

  it('gives the script a private temp dir as cwd and HOME, and none of the worker’s environment', async () => {
    process.env.EO_RUNNER_TEST_SECRET = 'do-not-leak';
    try {
      const s = spec('python', 'import json, os\nprint(json.dumps({"cwd": os.getcwd(), "env": dict(os.environ), "mode": oct(os.stat(".").st_mode & 0o777)}))');
      const seen = JSON.parse((await runner.run(s)).stdout) as { cwd: string; env: Record<string, string>; mode: string };
      expect(seen.cwd).toBe(join(workDir, s.executionId));
      expect(seen.mode).toBe('0o700');
      expect(seen.env.HOME).toBe(seen.cwd);
      expect(seen.env.LANG).toBe('C.UTF-8');
      expect(seen.env.EO_RUNNER_TEST_SECRET).toBeUndefined();
      expect(Object.keys(seen.env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'TMPDIR']);
      expect(existsSync(seen.cwd)).toBe(false);
    } finally {
      delete process.env.EO_RUNNER_TEST_SECRET;
    }
  });

  it('kills a script at the wall-time limit within a second, leaving no process behind', async () => {
    const { observer, pid } = pidObserver();
    const started = Date.now();
    const result = await runner.run(spec('bash', 'sleep 30', { limits: { wallTimeMs: 1000 } }), observer);
    const elapsed = Date.now() - started;
    expect(result.termination).toBe('wall_timeout');
    expect(result.signal).toBe('SIGKILL');
    expect(elapsed).toBeLessThan(10_000); // killed at the limit, long before the 30 s sleep ends
    expect(result.wallTimeMs).toBeGreaterThanOrEqual(1000);
    expect(result.wallTimeMs).toBeLessThanOrEqual(2000);
    const leader = await waitFor(pid);
    expect(liveGroupMembers(leader)).toEqual([]);
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
    ['holding the output pipes', 'sleep 100 &\necho $!'],
    ['with its output redirected away', 'sleep 100 >/dev/null 2>&1 &\necho $!'],
  ])('kills a background grandchild %s left behind when the script exits', async (_case, script) => {
    const result = await runner.run(spec('bash', script));
    expect(result).toMatchObject({ termination: 'exited', exitCode: 0 });
    const sleepPid = Number(result.stdout.trim());
    expect(sleepPid).toBeGreaterThan(1);
    await waitFor(() => !isAlive(sleepPid), 2000);
  });

  it('destroy kills a running script, removes its dir, and is safe to repeat', async () => {
    const { observer, pid } = pidObserver();
    const s = spec('python', 'import time\ntime.sleep(30)');
    const running = runner.run(s, observer);
    const leader = await waitFor(pid);
    expect(runner.active()).toContain(s.executionId);

    await expect(runner.destroy(s.executionId)).resolves.toBe(true);
    const result = await running;
    expect(result.termination).toBe('killed');
    expect(liveGroupMembers(leader)).toEqual([]);
    expect(existsSync(join(workDir, s.executionId))).toBe(false);
    expect(runner.active()).not.toContain(s.executionId);
    await expect(runner.destroy(s.executionId)).resolves.toBe(false);
  });

  it('destroy with nothing running resolves false', async () => {
    await expect(runner.destroy('never-ran')).resolves.toBe(false);
  });

  it('destroy from a fresh runner kills a group left by an earlier one (worker restart)', async () => {
    const { observer, pid } = pidObserver();
    const s = spec('bash', 'sleep 30');
    const running = runner.run(s, observer);
    const leader = await waitFor(pid);
    // The pid record is written just after spawn; wait for it rather than racing it.
    await waitFor(() => existsSync(join(workDir, '.meta', `${s.executionId}.json`)));

    const restarted = createLocalRunner({ workDir });
    await expect(restarted.destroy(s.executionId)).resolves.toBe(true);
    expect(liveGroupMembers(leader)).toEqual([]);
    expect((await running).signal).toBe('SIGKILL');
  });

  it('attaches a second run with the same execution id instead of starting another process', async () => {
    const marker = join(scratch, 'attach-marker');
    const release = join(scratch, 'attach-release');
    const script = `import os, time\nopen(${JSON.stringify(marker)}, "a").write(f"{os.getpid()}\\n")\nwhile not os.path.exists(${JSON.stringify(release)}): time.sleep(0.01)\nprint("done")`;
    const s = spec('python', script);
    const first = runner.run(s);
    const second = runner.run({ ...s });
    expect(second).toBe(first);
    expect(runner.active().filter((id) => id === s.executionId)).toHaveLength(1);

    await waitFor(() => existsSync(marker));
    writeFileSync(release, '');
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(b);
    expect(a.stdout).toBe('done\n');
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(1);

    // Once finished, the same id runs afresh.
    const again = await runner.run(s);
    expect(again).not.toBe(a);
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('kills the run when the caller aborts', async () => {
    const controller = new AbortController();
    const { observer, pid } = pidObserver({ signal: controller.signal });
    const running = runner.run(spec('bash', 'sleep 30'), observer);
    const leader = await waitFor(pid);
    controller.abort();
    const result = await running;
    expect(result.termination).toBe('killed');
    expect(liveGroupMembers(leader)).toEqual([]);
  });

  it('keeps running while another attached caller still holds it after one aborts', async () => {
    const release = join(scratch, 'holder-release');
    const controller = new AbortController();
    const s = spec('python', `import os, time\nwhile not os.path.exists(${JSON.stringify(release)}): time.sleep(0.01)\nprint("finished")`);
    const { observer, pid } = pidObserver({ signal: controller.signal });
    const first = runner.run(s, observer);
    void runner.run(s, { signal: new AbortController().signal }); // a second caller attached to the same run, never awaited
    const leader = await waitFor(pid);
    controller.abort();
    expect(liveGroupMembers(leader).length).toBeGreaterThan(0);
    writeFileSync(release, '');
    await expect(first).resolves.toMatchObject({ termination: 'exited', stdout: 'finished\n' });
  });

  it('starts nothing when the caller has already aborted', async () => {
    const s = spec('bash', 'echo should-not-run');
    const result = await runner.run(s, { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ termination: 'killed', stdout: '', exitCode: null });
  });

  it('sends heartbeats with the elapsed time while the script runs', async () => {
    const beats: Array<{ elapsedMs: number; pid: number }> = [];
    const release = join(scratch, 'heartbeat-release');
    const running = runner.run(spec('python', `import os, time\nwhile not os.path.exists(${JSON.stringify(release)}): time.sleep(0.01)`), {
      onHeartbeat: (info) => beats.push(info),
    });
    await waitFor(() => beats.length >= 3);
    writeFileSync(release, '');
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
    expect(result.signal).toBe('SIGXCPU');
    expect(result.cpuTimeMs).toBeGreaterThanOrEqual(900);
  });

  it('fails a python script allocating 2 GiB under a 256 MiB limit with memory_limit', async () => {
    const result = await runner.run(spec('python', 'x = bytearray(2 * 1024 ** 3)', { limits: { memoryMb: 256 } }));
    expect(result.termination).toBe('memory_limit');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('MemoryError');
  });

  it('fails a node script outgrowing its heap limit with memory_limit', async () => {
    const script = 'const keep = []; for (;;) keep.push(new Array(100000).fill(1.5));';
    const result = await runner.run(spec('node', script, { limits: { memoryMb: 64 } }));
    expect(result.termination).toBe('memory_limit');
    expect(result.signal).toBe('SIGABRT');
  });

  it('stops a script from writing a file past the file-size limit', async () => {
    const result = await runner.run(spec('python', 'open("big", "wb").write(b"x" * 2_000_000)', { limits: { maxFileSizeBytes: 1024 * 1024 } }));
    expect(result.termination).toBe('exited');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('File too large');
  });

  it('captures the output of a script that exits at once, without GNU time too', async () => {
    const bare = createLocalRunner({ workDir, timePath: null });
    const results = await Promise.all([bare.run(spec('bash', 'echo 1')), runner.run(spec('bash', 'echo 1'))]);
    for (const result of results) expect(result).toMatchObject({ termination: 'exited', exitCode: 0, stdout: '1\n' });
  });

  it('measures CPU time and peak memory from /proc samples when GNU time is not used', async () => {
    const sampled = createLocalRunner({ workDir, timePath: null, heartbeatIntervalMs: 20 });
    const allocated = join(scratch, 'sample-allocated');
    const release = join(scratch, 'sample-release');
    const script = `import os, time\nblock = bytearray(100 * 1024 * 1024)\nopen(${JSON.stringify(allocated)}, "w").close()\nwhile not os.path.exists(${JSON.stringify(release)}): time.sleep(0.01)`;
    let beatsAfterAllocation = 0;
    const running = sampled.run(spec('python', script), {
      onHeartbeat: () => {
        if (existsSync(allocated)) beatsAfterAllocation += 1;
      },
    });
    await waitFor(() => beatsAfterAllocation >= 2);
    writeFileSync(release, '');
    const result = await running;
    expect(result.peakMemoryKb).toBeGreaterThanOrEqual(100 * 1024);
    expect(result.cpuTimeMs).not.toBeNull();
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
    const marker = join(scratch, 'early-destroy-marker');
    const s = spec('bash', `touch ${marker}`);
    const running = runner.run(s);
    await expect(runner.destroy(s.executionId)).resolves.toBe(true);
    await expect(running).resolves.toMatchObject({ termination: 'killed', exitCode: null });
    expect(existsSync(marker)).toBe(false);
  });

  it('rejects when the interpreter cannot be started, leaving nothing active', async () => {
    const broken = createLocalRunner({ workDir, interpreters: { python: join(scratch, 'no-such-python') } });
    const s = spec('python', 'print(1)');
    await expect(broken.run(s)).rejects.toThrow(/interpreter/);
    expect(broken.active()).toEqual([]);
    expect(existsSync(join(workDir, s.executionId))).toBe(false);
  });

  it('rejects when the outermost wrapper cannot be spawned, leaving nothing behind', async () => {
    // A directory passes the executable check but fails at exec (EACCES).
    const broken = createLocalRunner({ workDir, timeoutPath: scratch, timePath: null });
    const s = spec('bash', 'echo 1');
    await expect(broken.run(s)).rejects.toThrow(/could not start/);
    expect(broken.active()).toEqual([]);
    expect(existsSync(join(workDir, s.executionId))).toBe(false);
  });

  it('refuses to be created without prlimit', () => {
    expect(() => createLocalRunner({ workDir, prlimitPath: join(scratch, 'no-such-prlimit') })).toThrow(/prlimit/);
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer((socket) => socket.end()).listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => server.close());
    const connectScript = () => `import socket\ns = socket.socket()\ns.settimeout(3)\nprint(s.connect_ex(("127.0.0.1", ${port})))`;

    it('gives a script no network with network "none": it cannot reach even a server on the host’s loopback', async () => {
      const isolated = createLocalRunner({ workDir, network: 'none' });
      const result = await isolated.run(spec('python', connectScript()));
      expect(result.termination).toBe('exited');
      expect(Number(result.stdout.trim())).toBeGreaterThan(0); // an errno (ENETUNREACH), not success
    });

    it('lets a script reach the host network with network "host" (so the check above can tell)', async () => {
      const shared = createLocalRunner({ workDir, network: 'host' });
      expect((await shared.run(spec('python', connectScript()))).stdout).toBe('0\n');
    });

    it('refuses network "none" where no network namespace can be made, and falls back with a warning under "auto"', () => {
      const missing = join(scratch, 'no-such-unshare');
      expect(() => createLocalRunner({ workDir, network: 'none', unsharePath: missing })).toThrow(/network "none" is not possible here/);
      const warnings: string[] = [];
      createLocalRunner({ workDir, network: 'auto', unsharePath: missing, log: { info: () => undefined, warn: (msg) => warnings.push(msg) } });
      expect(warnings).toEqual(['scripts share the host network: no network namespace possible here']);
    });
  });

  it('rejects an execution id that is not a safe path segment', async () => {
    await expect(runner.run({ ...spec('bash', 'true'), executionId: '../escape' })).rejects.toThrow(/executionId/);
  });

  it('leaves no run dirs or records behind', () => {
    expect(readdirSync(workDir).filter((name) => name !== '.meta')).toEqual([]);
    expect(readdirSync(join(workDir, '.meta'))).toEqual([]);
    expect(statSync(join(workDir, '.meta')).mode & 0o777).toBe(0o700);
  });
});
