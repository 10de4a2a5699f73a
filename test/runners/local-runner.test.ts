import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRunner } from '../../runners/local-runner';
import type { RunLimits, RunSpec, RunnerLanguage } from '../../runners/runner';
import { isAlive, pidsOfRun } from '../support/processes';

const workDir = mkdtempSync(join(tmpdir(), 'eo-runner-test-'));
const runner = createLocalRunner({ heartbeatIntervalMs: 50 });

afterAll(async () => {
  await runner.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** Pids of this process's children running the spawner host. */
function spawnerHosts(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('spawner-host');
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
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

// The behaviours every runner shares (exit codes, caps, destroy, attach, abort, heartbeats, wall and memory
// limits) are in runner-contract.test.ts; these are the local runner's own.
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

  it('stops a CPU spin at the CPU limit with cpu_limit', async () => {
    const result = await runner.run(spec('python', 'while True:\n    pass', { limits: { cpuTimeMs: 1000 } }));
    expect(result.termination).toBe('cpu_limit');
    expect(result.cpuTimeMs).toBeGreaterThanOrEqual(900);
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
    await unsafe.close();
  });

  it('close ends its spawner host, and a run after it starts another', async () => {
    const own = createLocalRunner({ heartbeatIntervalMs: 50 });
    const before = new Set(spawnerHosts());
    expect((await own.run(spec('bash', 'echo one'))).stdout).toBe('one\n');
    const [host] = spawnerHosts().filter((pid) => !before.has(pid));
    expect(host).toBeDefined();
    await own.close();
    const deadline = Date.now() + 5_000;
    while (isAlive(host!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(host!)).toBe(false);
    expect((await own.run(spec('bash', 'echo two'))).stdout).toBe('two\n');
    await own.close();
  });
});
