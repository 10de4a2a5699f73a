import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fulfilledWithin } from '../fulfilled-within';

/** The service's processes as a bench runs them: each its own process, measured from outside. */

const ROOT = path.resolve(__dirname, '..');

/** Where a bench's service processes find the stack, and what they are started with. */
export interface BenchServiceAt {
  databaseUrl: string;
  temporalAddress: string;
  redisUrl: string;
  taskQueue: string;
  /** The API's port. */
  port: number;
  /** PAYLOAD_CODEC_KEYS: api and worker run alone here, and refuse to start without codec keys. */
  codecKeys: string;
}

/**
 * The environment every service process of a bench shares: the stack's endpoints, and no rate limit or owner
 * quota that could bind (one key drives the whole load). A bench adds what is its own.
 */
export function benchServiceEnv(at: BenchServiceAt): NodeJS.ProcessEnv {
  const allocator = serviceAllocator();
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: at.databaseUrl,
    TEMPORAL_ADDRESS: at.temporalAddress,
    REDIS_URL: at.redisUrl,
    TEMPORAL_TASK_QUEUE: at.taskQueue,
    RATE_LIMIT_REQUESTS_PER_SECOND: '100000',
    RATE_LIMIT_EXECUTIONS_PER_MINUTE: '1000000',
    QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '100000',
    HOST: '127.0.0.1',
    PORT: String(at.port),
    LOG_LEVEL: 'warn',
    PAYLOAD_CODEC_KEYS: at.codecKeys,
    // The operator's settings of the runner, the relay and the API (API_SERVER_TIMING=false, RELAY_LINGER_MS=10,
    // RUNNER_CPU_WEIGHT, WORKFLOW_WATCHDOG…), and glibc's malloc tuning (MALLOC_ARENA_MAX), reach every bench's service processes.
    ...passedThroughSettings(),
    // The allocator, for the service's processes alone: not the bench client, nor the stack it starts.
    ...(allocator ? { LD_PRELOAD: allocator } : {}),
  };
}

/** jemalloc, as Debian's libjemalloc2 installs it: the service's image preloads it (Dockerfile). */
export const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/**
 * The allocator a bench's service processes preload: BENCH_SERVICE_LD_PRELOAD when set (empty: none, glibc's
 * malloc), else jemalloc when it is installed here, as in the image. Undefined: glibc's malloc.
 */
export function serviceAllocator(): string | undefined {
  const chosen = process.env.BENCH_SERVICE_LD_PRELOAD;
  if (chosen !== undefined) return chosen || undefined;
  return fs.existsSync(JEMALLOC) ? JEMALLOC : undefined;
}

/** The settings of this bench's environment its service processes take (see PASSED_THROUGH): results name them. */
export function passedThroughSettings(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && PASSED_THROUGH.some((prefix) => entry[0].startsWith(prefix))));
}

/** The prefixes of the settings a bench's service processes take from the bench's own environment. */
const PASSED_THROUGH = ['RUNNER_', 'RELAY_', 'API_', 'MALLOC_', 'WORKFLOW_', 'SAGA_', 'BENCH_SERVICE_'];

/** Starts `command args` in the checkout, its output to `<tmp>/eo-bench-<name>.log`; `onExit` hears of its end. */
export function startBenchProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, onExit?: (why: string, logFile: string) => void): ChildProcess {
  const logFile = path.join(os.tmpdir(), `eo-bench-${name}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = stoppedWithBench(spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', out, out] }));
  fs.closeSync(out);
  child.on('exit', (code, signal) => onExit?.(String(code ?? signal), logFile));
  return child;
}

/** The processes a bench started that have not exited yet. */
const running = new Set<ChildProcess>();

/**
 * Ties `child` to this bench: a SIGINT or SIGTERM to the bench alone (`kill <pid>`, not a terminal's Ctrl-C, which
 * reaches the whole group) stops it before the bench exits, and so does any exit of the bench that skips its own
 * clean-up (`process.exit` on an error). Without this a killed bench left its api, worker and relay running.
 */
export function stoppedWithBench(child: ChildProcess): ChildProcess {
  if (!stopsInstalled) installStops();
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

let stopsInstalled = false;
function installStops(): void {
  stopsInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGTERM');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping ${running.size} process(es) it started\n`);
      void Promise.all([...running].map((child) => stopProcess(child))).finally(() => process.exit(128 + os.constants.signals[signal]));
    });
  }
}

/** Polls `probe` every 100 ms until it answers true (a throw counts as false). @throws past `deadlineMs`. */
export async function waitUntil(what: string, probe: () => Promise<boolean>, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after 20 s. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (!(await fulfilledWithin(exited, 20_000))) child.kill('SIGKILL');
}

/** A process's resident memory, MB, from /proc; null when it is gone. */
export function rssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return null;
  }
}

/** Where a process's resident memory is, MB, from /proc/<pid>/smaps. */
export interface RssParts {
  /** malloc's main arena (`[heap]`, grown by brk). */
  brk: number;
  /** Anonymous mappings of 4 GiB or more: WebAssembly memories (V8 reserves each with its guard region); they never shrink. */
  wasm: number;
  /** Other anonymous mappings: the V8 heap, malloc's other arenas and its large blocks, thread stacks. */
  anon: number;
  /** Mapped files: the binary, shared libraries, native addons. */
  files: number;
  /** Of all the above, pages freed with MADV_FREE (jemalloc's lazy purge): counted in RSS until the kernel needs them. */
  lazyFree: number;
}

/** A WebAssembly memory is its accessible pages followed by the rest of an 8 GiB reservation, mapped without access. */
const WASM_GUARD_BYTES = 4 * 2 ** 30;

/** The process's RSS by kind of mapping; null when it cannot be read. */
export function rssParts(pid: number | undefined): RssParts | null {
  if (pid === undefined) return null;
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return null;
  }
  const mappings: Array<{ start: number; end: number; perms: string; name: string; rssKb: number }> = [];
  let lazyFreeKb = 0;
  for (const line of text.split('\n')) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (mapping) mappings.push({ start: parseInt(mapping[1]!, 16), end: parseInt(mapping[2]!, 16), perms: mapping[3]!, name: mapping[4]!, rssKb: 0 });
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && mappings.length > 0) mappings.at(-1)!.rssKb = Number(rss[1]);
    const lazy = /^LazyFree:\s+(\d+) kB/.exec(line);
    if (lazy) lazyFreeKb += Number(lazy[1]);
  }
  const kb = { brk: 0, wasm: 0, anon: 0, files: 0 };
  mappings.forEach((m, i) => {
    const next = mappings[i + 1];
    const wasm = m.name === '' && next !== undefined && next.start === m.end && next.perms === '---p' && next.end - next.start >= WASM_GUARD_BYTES;
    kb[m.name === '[heap]' ? 'brk' : m.name.startsWith('/') ? 'files' : wasm ? 'wasm' : 'anon'] += m.rssKb;
  });
  const mb = (n: number) => Math.round(n / 1024);
  return { brk: mb(kb.brk), wasm: mb(kb.wasm), anon: mb(kb.anon), files: mb(kb.files), lazyFree: mb(lazyFreeKb) };
}

/** What V8 holds in one process, MB: its heap in use, the heap it keeps committed, and external memory (Buffers, ArrayBuffers: malloc'd, outside the heap). */
export interface V8MemoryMb {
  used: number;
  committed: number | null;
  external: number | null;
}

/** One process's {@link V8MemoryMb}, from the `<prefix>nodejs_heap_size_*` and `nodejs_external_memory_bytes` series of its /metrics. */
export async function v8MemoryMb(url: string, prefix: string, headers: Record<string, string> = {}): Promise<V8MemoryMb | null> {
  try {
    const text = await (await fetch(url, { headers, signal: AbortSignal.timeout(5_000) })).text();
    const read = (series: string) => {
      const value = new RegExp(`^${prefix}${series} (\\S+)$`, 'm').exec(text)?.[1];
      return value === undefined ? null : Math.round(Number(value) / 2 ** 20);
    };
    const used = read('nodejs_heap_size_used_bytes');
    return used === null ? null : { used, committed: read('nodejs_heap_size_total_bytes'), external: read('nodejs_external_memory_bytes') };
  } catch {
    return null;
  }
}

/** One process's V8 heap in use, MB ({@link v8MemoryMb}). */
export async function heapUsedMb(url: string, prefix: string, headers: Record<string, string> = {}): Promise<number | null> {
  return (await v8MemoryMb(url, prefix, headers))?.used ?? null;
}

/**
 * One process's event-loop delay since its metrics were last read, ms (prom-client resets the histogram on
 * every read, so a read before a cell starts the window).
 */
export async function eventLoopDelayMs(url: string, prefix: string, headers: Record<string, string> = {}): Promise<{ p99: number; max: number } | null> {
  try {
    const text = await (await fetch(url, { headers, signal: AbortSignal.timeout(5_000) })).text();
    const read = (name: string) => Number(new RegExp(`^${prefix}nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
    const [p99, max] = [read('p99'), read('max')];
    return Number.isFinite(p99) && Number.isFinite(max) ? { p99: Math.round(p99), max: Math.round(max) } : null;
  } catch {
    return null;
  }
}
