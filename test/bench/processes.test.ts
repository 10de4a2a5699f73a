// Every bench starts the service's processes with benchServiceEnv: the operator's settings must reach them.
import { benchServiceEnv, rssMb, rssParts } from '../../bench/processes';

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

test('a process\'s RSS is split by kind: a WebAssembly memory it fills counts as wasm, and the parts add up to about its RSS', () => {
  const before = rssParts(process.pid)!;
  // The tsconfig's libs do not declare WebAssembly; Node has it.
  const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
  const memory = new Memory({ initial: 640 }); // 64 KiB pages: 40 MiB
  new Uint8Array(memory.buffer).fill(1);
  const after = rssParts(process.pid)!;
  expect(after.wasm - before.wasm).toBeGreaterThanOrEqual(39);
  const total = after.brk + after.wasm + after.anon + after.files;
  expect(Math.abs(total - rssMb(process.pid)!)).toBeLessThanOrEqual(8); // smaps and status, read a moment apart
  expect(rssParts(2 ** 22 + 12345)).toBeNull(); // no such process
});
