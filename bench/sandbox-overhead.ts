// What the sandbox costs per run: the median wall time of trivial python/node/bash scripts run through
// the local runner (bwrap + cgroup + seccomp) against the same interpreter spawned directly, interleaved
// in one loop so that both see the same machine load. Usage: npm run bench:sandbox -- [runs=30]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cgroupMovesFavored } from '../runners/local/cgroup';
import { createLocalRunner } from '../runners/local-runner';
import type { RunnerLanguage } from '../runners/runner';

const SCRIPTS: Readonly<Record<RunnerLanguage, string>> = { python: 'pass', node: '', bash: 'true' };
const LIMITS = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 256, maxOutputBytes: 65_536, maxProcesses: 32, maxFileSizeBytes: 16 << 20 };

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 30);
  const runner = createLocalRunner();
  const times = new Map<string, number[]>();
  const record = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms]);
  const languages = runner.runtimes.map((r) => r.language);

  for (let i = -3; i < runs; i++) {
    // The first rounds warm the page cache and are not counted.
    for (const runtime of runner.runtimes) {
      const { language } = runtime;
      // Direct: the interpreter with the script inline, no wrapper at all.
      const inline = language === 'python' ? ['-c', SCRIPTS.python] : language === 'node' ? ['-e', SCRIPTS.node] : ['-c', SCRIPTS.bash];
      let t = performance.now();
      const child = spawn(runtime.interpreter, inline, { stdio: 'ignore', env: {} });
      await once(child, 'exit');
      if (i >= 0) record(`${language} direct`, performance.now() - t);

      t = performance.now();
      const result = await runner.run({ executionId: `bench-${process.pid}-${language}-${i + 3}`, language, script: SCRIPTS[language], limits: LIMITS });
      if (result.exitCode !== 0) throw new Error(`${language} run failed: ${result.stderr}`);
      if (i >= 0) record(`${language} sandboxed`, performance.now() - t);
    }
  }

  // Half of a quiet host's overhead is the run's cgroup joins waiting for an RCU grace period (runners/README.md).
  const moves = cgroupMovesFavored() ? 'cgroups mounted with favordynmods' : 'cgroups without favordynmods: each run\'s cgroup join may wait for an RCU grace period';
  console.log(`trivial runs, median of ${runs} (interleaved), wall time from spawn to result; ${moves}:`);
  console.log('| runtime | direct spawn | sandboxed run | overhead |');
  console.log('| --- | --- | --- | --- |');
  for (const language of languages) {
    const direct = median(times.get(`${language} direct`)!);
    const sandboxed = median(times.get(`${language} sandboxed`)!);
    console.log(`| ${language} | ${direct.toFixed(1)} ms | ${sandboxed.toFixed(1)} ms | +${(sandboxed - direct).toFixed(1)} ms |`);
  }
  // Its cgroup dirs go with it; left, they waited for a worker in the same cgroup to sweep them.
  await runner.close?.();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
