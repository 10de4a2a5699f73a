import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../../../runners/local/cgroup';
import { createLocalRunner, type LocalRunner } from '../../../runners/local-runner';
import { shellWord } from '../../../runners/local/sandbox-command';
import type { RunSpec } from '../../../runners/runner';
import { waitFor } from '../../support/harness';
import { pidsOfRun } from '../../support/processes';

// Launchers prepared ahead of their runs, on the real sandbox: bwrap, this host's cgroups, the spawner host.

const limits = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 128, maxOutputBytes: 4096, maxProcesses: 16, maxFileSizeBytes: 1 << 20 };
let sequence = 0;
const spec = (script: string): RunSpec => ({ executionId: `prepared-${process.pid}-${++sequence}`, language: 'bash', script, limits });

/** This process's run dirs (unified hierarchy). */
function allRunDirs(): string[] {
  const { unified } = detectCgroupLayout();
  const owner = readdirSync(unified).find((name) => name.startsWith(`eo-${process.pid}-`));
  if (owner === undefined) return [];
  return readdirSync(join(unified, owner))
    .filter((name) => name.startsWith('r-'))
    .map((run) => join(unified, owner, run));
}

/** Run dirs that were there before this test's runner: another test file's runners in this process (jest --runInBand). */
let foreign = new Set<string>();
function newRunner(preparedSandboxes: number): LocalRunner {
  foreign = new Set(allRunDirs());
  return createLocalRunner({ preparedSandboxes });
}

/** The test's runner's run dirs by state: a launcher waiting unnamed, or a run named for its execution. */
function runDirs(): { waiting: string[]; named: Map<string, string> } {
  const waiting: string[] = [];
  const named = new Map<string, string>();
  for (const dir of allRunDirs().filter((found) => !foreign.has(found))) {
    try {
      const mark = readdirSync(dir).find((name) => name.startsWith('e-'));
      if (mark !== undefined) named.set(mark.slice(2), dir);
      else if (/^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'))) waiting.push(dir);
    } catch {
      // removed while we looked: neither
    }
  }
  return { waiting, named };
}

let runner: LocalRunner | undefined;
afterEach(async () => {
  await runner?.close();
  runner = undefined;
});

it('runs a script in a launcher that was waiting in its cgroups before the run was asked for, and prepares the next as it starts', async () => {
  runner = newRunner(2);
  expect((await runner.run(spec('echo warm'))).stdout).toBe('warm\n');
  const before = await waitFor('two launchers waiting', async () => {
    const { waiting } = runDirs();
    return waiting.length === 2 ? waiting : undefined;
  });

  const s = spec('sleep 0.5; echo done');
  const running = runner.run(s);
  const dir = await waitFor('the run named in its cgroup', async () => runDirs().named.get(s.executionId), { intervalMs: 10 });
  expect(before).toContain(dir);
  expect(pidsOfRun(s.executionId).length).toBeGreaterThan(0);
  await expect(running).resolves.toMatchObject({ termination: 'exited', exitCode: 0, stdout: 'done\n' });
  await waitFor('the pool filled again', async () => (runDirs().waiting.length === 2 ? true : undefined));
  await waitFor('the run\'s cgroup removed', async () => (existsSync(dir) ? undefined : true));
});

it('with none prepared, starts each run\'s launcher when the run is asked for', async () => {
  runner = newRunner(0);
  for (let i = 0; i < 2; i++) {
    const { waiting: before } = runDirs();
    const s = spec('sleep 0.5; echo on demand');
    const running = runner.run(s);
    const dir = await waitFor('the run named in its cgroup', async () => runDirs().named.get(s.executionId), { intervalMs: 10 });
    expect(before).not.toContain(dir);
    await expect(running).resolves.toMatchObject({ exitCode: 0, stdout: 'on demand\n' });
  }
  expect(runDirs().waiting).toEqual([]);
});

it('close kills the waiting launchers and removes their cgroups', async () => {
  runner = newRunner(2);
  await runner.run(spec('true'));
  const waiting = await waitFor('launchers waiting', async () => {
    const dirs = runDirs().waiting;
    return dirs.length === 2 ? dirs : undefined;
  });
  const pids = waiting.flatMap((dir) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean));
  expect(pids.length).toBeGreaterThan(0);
  await runner.close();
  for (const dir of waiting) expect(existsSync(dir)).toBe(false);
  for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
});

it('refuses a bad pool size', () => {
  expect(() => createLocalRunner({ preparedSandboxes: -1 })).toThrow(/preparedSandboxes must be an integer from 0 to 64/);
});

it('quotes a launcher\'s words so that the shell\'s eval gives them back unchanged, and refuses a newline', () => {
  for (const word of ['plain', "it's", "'", '$(id) `id` $HOME "x" \\ ; & |', '']) {
    // As the launcher does: the line arrives in a variable and goes through eval.
    expect(execFileSync('/bin/sh', ['-c', 'line="printf %s $1" && eval "$line"', 'sh', shellWord(word)], { encoding: 'utf8' })).toBe(word);
  }
  expect(() => shellWord('two\nlines')).toThrow(/newline/);
});
