// How long the worker's event loop waits while the local runner runs trivial bash scripts at concurrency C, and
// what each of the runner's cgroup calls takes (mkdir, rmdir and writes under /sys/fs/cgroup; a mkdir or rmdir
// takes the kernel's cgroup_mutex, which another run's cgroup join holds through an RCU grace period).
// Usage: npx tsx bench/runner-loop-delay.ts [runs=300] [concurrency=8]
import fs from 'node:fs';
import fsPromises from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLocalRunner } from '../runners/local-runner';

const LIMITS = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 256, maxOutputBytes: 65_536, maxProcesses: 32, maxFileSizeBytes: 16 << 20 };
const calls = new Map<string, number[]>();

/** Times every call of `module[name]` on a cgroup path, by the call and the kind of file or dir. */
function timeCgroupCalls(module: object, name: string, label: string): void {
  const target = module as Record<string, (...args: unknown[]) => unknown>;
  const original = target[name]!;
  const record = (path: string, t: number) => {
    const kind = path.split('/').pop()!.replace(/^r-[0-9a-f-]+$/, 'r-<run>').replace(/^e-.*$/, 'e-<execution>');
    const key = `${label} ${kind}`;
    calls.set(key, [...(calls.get(key) ?? []), performance.now() - t]);
  };
  target[name] = (...args: unknown[]) => {
    const path = String(args[0]);
    if (!path.startsWith('/sys/fs/cgroup')) return original(...args);
    const t = performance.now();
    const result = original(...args);
    if (result instanceof Promise) return result.finally(() => record(path, t));
    record(path, t);
    return result;
  };
}
for (const name of ['mkdirSync', 'rmdirSync', 'writeFileSync']) timeCgroupCalls(fs, name, `${name} (loop)`);
for (const name of ['mkdir', 'rmdir']) timeCgroupCalls(fsPromises, name, `${name} (pool)`);

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 300);
  const concurrency = Number(process.argv[3] ?? 8);
  const runner = createLocalRunner();
  await runner.run({ executionId: `loop-delay-${process.pid}-warm`, language: 'bash', script: 'true', limits: LIMITS });
  calls.clear();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < runs) {
        const result = await runner.run({ executionId: `loop-delay-${process.pid}-${next++}`, language: 'bash', script: 'true', limits: LIMITS });
        if (result.exitCode !== 0) throw new Error(`a run failed: ${result.stderr}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  delay.disable();
  await runner.close();
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  console.log(`${runs} bash runs at concurrency ${concurrency}: ${(runs / seconds).toFixed(1)} runs/s; event loop delay p50 ${ms(delay.percentile(50))}, p99 ${ms(delay.percentile(99))}, max ${ms(delay.max)} ms`);
  console.log('| cgroup call | calls | p50 ms | p99 ms | max ms | on the loop, ms in all |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [key, xs] of [...calls].sort()) {
    const onLoop = key.includes('(loop)') ? xs.reduce((a, b) => a + b, 0).toFixed(0) : '0';
    console.log(`| ${key} | ${xs.length} | ${quantile(xs, 0.5).toFixed(2)} | ${quantile(xs, 0.99).toFixed(2)} | ${Math.max(...xs).toFixed(2)} | ${onLoop} |`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
