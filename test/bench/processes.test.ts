// Every bench starts the service's processes with benchServiceEnv: the operator's settings must reach them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { benchServiceEnv, rssMb, rssParts } from '../../bench/processes';

const ROOT = path.resolve(__dirname, '..', '..');
const AT = { databaseUrl: 'postgresql://x@127.0.0.1:1/db', temporalAddress: '127.0.0.1:2', redisUrl: 'redis://127.0.0.1:3', taskQueue: 'q', port: 4, codecKeys: 'k' };

test('the runner\'s, the relay\'s and the API\'s settings, malloc tuning and another allocator pass through; nothing else of the bench\'s environment does', () => {
  const set = { RUNNER_CPU_WEIGHT: '10', RELAY_LINGER_MS: '10', API_SERVER_TIMING: 'false', MALLOC_ARENA_MAX: '2', BENCH_SERVICE_LD_PRELOAD: '/lib/x.so', CAPACITY_GLOBAL: '1', SOME_RUNNER_X: 'y' };
  const saved = Object.fromEntries(Object.keys(set).map((name) => [name, process.env[name]]));
  Object.assign(process.env, set);
  try {
    const env = benchServiceEnv(AT);
    expect(env).toMatchObject({ RUNNER_CPU_WEIGHT: '10', RELAY_LINGER_MS: '10', API_SERVER_TIMING: 'false', MALLOC_ARENA_MAX: '2', LD_PRELOAD: '/lib/x.so', DATABASE_URL: AT.databaseUrl, PORT: '4' });
    expect(env.CAPACITY_GLOBAL).toBeUndefined();
    expect(env.SOME_RUNNER_X).toBeUndefined();
    process.env.BENCH_SERVICE_LD_PRELOAD = ''; // glibc's malloc, even where jemalloc is installed
    expect(benchServiceEnv(AT).LD_PRELOAD).toBeUndefined();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

test('a process\'s RSS is split by kind: a WebAssembly memory it fills counts as wasm, and the parts add up to about its RSS', async () => {
  // A process of its own, idle once filled, as the bench's services are when measured: a long-lived jest worker's
  // V8 can unmap hundreds of MB between the smaps read and the status read.
  const child = spawn(process.execPath, ['-e', `
    const memory = new WebAssembly.Memory({ initial: 640 }); // 64 KiB pages: 40 MiB
    new Uint8Array(memory.buffer).fill(1);
    process.stdout.write('filled\\n');
    setInterval(() => {}, 60_000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout, 'data');
    const parts = rssParts(child.pid)!;
    expect(parts.wasm).toBeGreaterThanOrEqual(39);
    expect(parts.wasm).toBeLessThanOrEqual(41);
    const total = parts.brk + parts.wasm + parts.anon + parts.files;
    expect(Math.abs(total - rssMb(child.pid)!)).toBeLessThanOrEqual(4);
  } finally {
    child.kill();
  }
  expect(rssParts(2 ** 22 + 12345)).toBeNull(); // no such process
});

test('pages a process freed with MADV_FREE, as jemalloc purges lazily, are counted as lazy: resident, yet not in use', async () => {
  const child = spawn('python3', ['-c', `
import mmap, sys, time
m = mmap.mmap(-1, 32 * 2**20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.write(b'x' * (32 * 2**20))
m.madvise(mmap.MADV_FREE)
sys.stdout.write('freed\\n'); sys.stdout.flush()
time.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const freed = await Promise.race([once(child.stdout, 'data').then(() => true), once(child, 'exit').then(() => false)]);
    expect(freed).toBe(true); // else python3 failed, and said why on stderr
    const parts = rssParts(child.pid)!;
    expect(parts.lazyFree).toBeGreaterThanOrEqual(31);
    expect(parts.lazyFree).toBeLessThanOrEqual(parts.brk + parts.wasm + parts.anon + parts.files);
  } finally {
    child.kill();
  }
});

test.each(['SIGTERM', 'SIGINT'] as const)('a bench stopped by %s alone stops the processes it started before it exits', async (signal) => {
  const bench = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(__dirname, 'fixtures', 'bench-with-a-child.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(bench.stdout, 'data')) as [Buffer];
  const childPid = Number(line.toString().trim());
  expect(alive(childPid)).toBe(true);
  const exited = once(bench, 'exit');
  bench.kill(signal); // tsx passes it on to the bench's own node process
  await exited;
  expect(alive(childPid)).toBe(false);
});

/** Whether a process with this pid exists (a zombie counts: the bench's exit handed it to init, which reaps it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
