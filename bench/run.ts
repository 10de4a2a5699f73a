// npm run bench -- [--temporal=dev|production|both] [--concurrency=1,8,32] [--counts=20,80,160]
//                  [--languages=bash,python,node] [--memory=1000] [--api-rate=50] [--api-seconds=8] [--runner-runs=30]
//                  [--relay-backlog=4000] [--end-to-end-only] [--profile] [--rounds=1]
// Brings up the real local stack, and for each Temporal server (--temporal; default both when the production
// server is built, else dev; an own server through TEMPORAL_ADDRESS is the only one) runs api, worker and relay as
// their own processes (`node dist/…`) on a fresh database, and measures from outside, over REST and the event
// stream, as a client would:
//   1. end to end: trivial scripts, POST → `end` on the execution's event stream, at each concurrency;
//   2. the same Temporal server driving a workflow of the saga's shape whose six activities do nothing;
//   5. API latency at a fixed rate: GET of a running execution; POST and GET with the worker stopped;
//   6. RSS of each process (ours and the Temporal server's) at start, after the sections above, and at each
//      --memory checkpoint (e.g. --memory=1000,5000): each time as found, and again after a full GC of api,
//      worker and relay (through the inspector: they run with --inspect on loopback ports of their own);
//   4. relay: occurred_at of each event (its transaction) → the event read from Kafka by a consumer, during
//      the fixed-rate POSTs of section 5 (worker stopped: one event per POST, so --api-rate events/s; 3 s of
//      unmeasured POSTs at that rate go first);
//      and alone: events committed straight into the outbox at --api-rate for --api-seconds, then a backlog of
//      --relay-backlog events at once, drained at the relay's full speed (bench/relay-alone.ts);
//   3. runner overhead, once (no Temporal in it): bench/sandbox-overhead.ts, --runner-runs interleaved runs.
// --end-to-end-only runs sections 1–2 alone (a quick before/after).
// --rounds=N measures sections 1–2 N times per concurrency, the saga and the baseline taking turns to go first
// (a machine that speeds up or slows down between two cells favours neither), and reports each round's ratio and
// their median: on a shared machine one pair of cells can move by 20 %.
// --profile runs api, worker and relay under `node --cpu-prof` and adds where each spent its CPU (bench/cpu-profile.ts);
// with sections 1–2 alone the profile covers just them (section 5 kills the worker, whose profile is then lost).
// Writes bench/results/<timestamp>.json and .md and prints the markdown.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Consumer, stringDeserializers, type MessagesStream } from '@platformatic/kafka';
import { Client, Connection } from '@temporalio/client';
import { generateKeyEntry } from '../payload-codec/keyring';
import pg from 'pg';
import { deleteReconcilerSchedule } from '../reconciler/schedule';
import { downPart, runningTemporalFlavor, stackEndpoints, statusPart, upPart, type StackPart, type TemporalFlavor } from '../stack';
import { groupMembers } from '../stack/process';
import { temporalSqlitePragmas } from '../stack/paths';
import { isBuilt as productionServerBuilt } from '../stack/temporal-server';
import { readEventStream } from '../test/support/sse';
import { cpuPerUnit, cpuSnapshot, waitForQuiet, type Quiet } from './cpu-account';
import { profileMarkdown, summarizeProfiles, type ProfileSummary } from './cpu-profile';
import { collectGarbage } from './inspector';
import { atFixedRate, runLanes, summarize, type Summary } from './stats';
import { freeLoopbackPort } from '../stack/port';
import { backCpuGroup, inBackGroup, leaveBackGroup } from '../stack/back-cpu-group';
import { createBenchKeys, freshBenchDatabase } from './database';
import { seedHistory } from './history';
import { measureRelayAlone, type RelayAloneResult } from './relay-alone';
import { flag, numberFlag, numbersFlag } from './flags';
import { TIMING_TABLE_HEAD, timedRequest, timingBreakdown, timingRows } from './server-timing';
import type { TimedRequest, TimingBreakdown } from './server-timing';
import { benchServiceEnv, eventLoopDelayMs, passedThroughSettings, rssMb, rssParts, serviceAllocator, startBenchProcess, stopProcess, stoppedWithBench, v8MemoryMb, waitUntil, type RssParts, type V8MemoryMb } from './processes';

const ROOT = path.resolve(__dirname, '..');
const BENCH_DATABASE = 'eo_bench';
/** The owner of the bench's API key, and of its executions. */
const BENCH_OWNER = 'bench';

const concurrencies = numbersFlag('concurrency', '1,8,32', { min: 1 });
const counts = numbersFlag('counts', '20,80,160', { min: 1 });
const languages = flag('languages', 'bash,python,node').split(',');
// --memory=0: no checkpoint.
const memoryCheckpoints = numbersFlag('memory', '1000').filter((n) => n > 0);
const apiRate = numberFlag('api-rate', 50, { min: 1, whole: false });
const apiSeconds = numberFlag('api-seconds', 8, { min: 1, whole: false });
const runnerRuns = numberFlag('runner-runs', 30, { min: 1 });
/** Section 4: the events committed at once for the relay's full speed. */
const relayBacklog = numberFlag('relay-backlog', 4000, { min: 1 });
/** Section 5: how long POSTs go unmeasured at the rate before the measured ones. */
const WARM_UP_MS = 3000;
const endToEndOnly = process.argv.includes('--end-to-end-only');
const rounds = numberFlag('rounds', 1, { min: 1 });
/** Finished executions written into the bench's database before anything is measured (bench/history.ts). */
const history = numberFlag('history', 0);
// Only runs with memory checkpoints start the service's processes with an inspector (for the full GC).
const sampleAfterGc = !endToEndOnly && memoryCheckpoints.some((checkpoint) => checkpoint > 0);
const profile = process.argv.includes('--profile');
/** Where --profile's CPU profiles go: one folder per server, in it one per process. */
const profileRoot = path.join(os.tmpdir(), `eo-bench-profiles-${process.pid}`);
const say = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
const backGroup = backCpuGroup();

const SCRIPTS: Record<string, string> = { bash: 'true', python: 'pass', node: '0' };
const roundLabel = (round: number): string => (rounds > 1 ? `round ${round}: ` : '');

let stopping = false;
const startProcess = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess =>
  startBenchProcess(name, command, args, env, (why, logFile) => {
    if (!stopping) say(`${name} exited (${why}); its log: ${logFile}`);
  });

interface CellResult {
  section: string;
  language: string;
  concurrency: number;
  /** Which round of --rounds (1-based); results before the flag have none: round 1. */
  round?: number;
  count: number;
  perSecond: number;
  latencyMs: Summary;
  /** POST alone (201 received), end to end only. */
  postLatencyMs?: Summary;
  /** Where those POSTs' time went (their `Server-Timing`), end to end only. */
  postTiming?: TimingBreakdown | null;
  /** The worker's event-loop delay over the cell (p99 and max, ms), end to end only: what a blocking call on its main thread costs every other run. */
  workerLoopDelayMs?: { p99: number; max: number } | null;
  /** The API's, over the same window: a stall there delays every part of a POST it times. */
  apiLoopDelayMs?: { p99: number; max: number } | null;
  /** CPU ms per execution over the cell: the machine's, and by process (bench/cpu-account.ts). */
  cpuMsPerExecution?: Record<string, number>;
  failures: number;
}

type Server = TemporalFlavor | 'external';

function serversToRun(): Server[] {
  if (process.env.TEMPORAL_ADDRESS) return ['external'];
  const choice = flag('temporal', productionServerBuilt() ? 'both' : 'dev');
  if (choice === 'both') return ['dev', 'production'];
  if (choice === 'dev' || choice === 'production') return [choice];
  throw new Error(`--temporal must be dev, production or both, got '${choice}'`);
}

/** Runs `task` with EO_TEMPORAL_SERVER set to `flavor` (the stack reads it on every call). */
async function asFlavor<T>(flavor: TemporalFlavor, task: () => Promise<T>): Promise<T> {
  const saved = process.env.EO_TEMPORAL_SERVER;
  process.env.EO_TEMPORAL_SERVER = flavor;
  try {
    return await task();
  } finally {
    if (saved === undefined) delete process.env.EO_TEMPORAL_SERVER;
    else process.env.EO_TEMPORAL_SERVER = saved;
  }
}

async function main(): Promise<void> {
  const servers = serversToRun();
  const started: StackPart[] = [];
  const local = stackEndpoints();
  for (const [part, variable] of [['postgres', 'DATABASE_URL'], ['kafka', 'KAFKA_BROKERS'], ['redis', 'REDIS_URL']] as const) {
    if (process.env[variable]) continue;
    const up = await upPart(part, { log: (line) => say(`${part}: ${line}`) });
    if (!up.alreadyRunning) started.push(part);
  }
  const result: Record<string, unknown> = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), loadAtStart: os.loadavg()[0] },
    flags: { servers, concurrencies, counts, languages, memoryCheckpoints, apiRate, apiSeconds, runnerRuns, relayBacklog, history },
    settings: passedThroughSettings(),
    allocator: serviceAllocator() ?? null,
    backCpuGroup: backGroup.made ? { weight: backGroup.weight } : { off: backGroup.why },
  };
  // Both servers listen on the same ports: one runs at a time. One the bench found running is stopped for the
  // other's turn and started again at the end.
  const restore: TemporalFlavor[] = [];
  try {
    say(`runner: ${runnerRuns} trivial runs per language, sandboxed vs direct`);
    result.runner = await runnerOverhead();
    result.servers = {};
    for (const server of servers) {
      if (server === 'external') {
        (result.servers as Record<string, unknown>)[server] = await measureServer(server, process.env.TEMPORAL_ADDRESS!);
        continue;
      }
      const running = runningTemporalFlavor();
      if (running && running !== server) {
        say(`stopping the local ${running} Temporal server for the ${server} server's turn`);
        await downPart('temporal');
        restore.push(running);
      }
      (result.servers as Record<string, unknown>)[server] = await asFlavor(server, async () => {
        const up = await upPart('temporal', { log: (line) => say(`temporal (${server}): ${line}`) });
        try {
          return await measureServer(server, local.temporalAddress);
        } finally {
          if (!up.alreadyRunning && !restore.includes(server)) await downPart('temporal');
        }
      });
    }
  } finally {
    for (const flavor of restore) await asFlavor(flavor, () => upPart('temporal', { log: (line) => say(`temporal (${flavor}): ${line}`) }));
    for (const part of started.reverse()) await downPart(part);
    for (const member of ['worker', 'relay', 'baseline-worker']) await leaveBackGroup(member);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', `${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = renderMarkdown(result);
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', `${stamp}.md`), markdown);
  process.stdout.write(markdown);
}

/** Section 3, once: bench/sandbox-overhead.ts as its own process; its markdown table. */
async function runnerOverhead(): Promise<{ table: string } | { error: string }> {
  const child = stoppedWithBench(spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bench/sandbox-overhead.ts', String(runnerRuns)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return code === 0 ? { table: out.trim() } : { error: `exited with ${code}: ${err.trim().split('\n').slice(-3).join(' ')}` };
}

/** RSS of the Temporal server's processes: the server (leader of the part's process group) and the others (the UI server). */
async function temporalRss(server: Server): Promise<{ serverMb: number | null; uiMb: number | null }> {
  if (server === 'external') return { serverMb: null, uiMb: null };
  const { pid } = await statusPart('temporal');
  if (pid === undefined) return { serverMb: null, uiMb: null };
  const others = groupMembers(pid).filter((p) => p !== pid).map((p) => rssMb(p) ?? 0);
  return { serverMb: rssMb(pid), uiMb: others.length > 0 ? others.reduce((a, b) => a + b, 0) : null };
}

interface MemorySample {
  after: string;
  executions: number;
  apiMb: number | null;
  workerMb: number | null;
  relayMb: number | null;
  temporalMb: number | null;
  temporalUiMb: number | null;
  /** V8 heap in use (MB) of api, worker and relay, from their /metrics: RSS growth that is not here is native memory. */
  heapMb?: { api: number | null; worker: number | null; relay: number | null };
  /** The same processes' V8 heap committed and external memory beside it: anon RSS growth outside these is malloc's or native. */
  v8Mb?: { api: V8MemoryMb | null; worker: V8MemoryMb | null; relay: V8MemoryMb | null };
  /** After a full GC: the worker's threads' V8 heaps in use together (its workflows run there), MB. */
  workerThreadsHeapMb?: number;
  /** After a full GC: where each process's RSS is (bench/processes.ts `rssParts`). */
  rssParts?: { api: RssParts | null; worker: RssParts | null; relay: RssParts | null };
}

/** Sections 1, 2, 4, 5 and 6 against one Temporal server, with api, worker and relay of their own on a fresh database. */
async function measureServer(server: Server, temporalAddress: string): Promise<Record<string, unknown>> {
  const local = stackEndpoints();
  stopping = false;
  say(`measuring on the ${server} Temporal server at ${temporalAddress}`);
  const databaseUrl = await freshBenchDatabase(BENCH_DATABASE);
  if (history > 0) say(`history: ${history} finished executions written in ${((await seedHistory(databaseUrl, history, BENCH_OWNER)) / 1000).toFixed(1)} s`);

  const taskQueue = `bench-${randomUUID()}`;
  const baselineQueue = `${taskQueue}-baseline`;
  const port = await freeLoopbackPort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...benchServiceEnv({
      databaseUrl,
      temporalAddress,
      redisUrl: process.env.REDIS_URL ?? local.redisUrl,
      taskQueue,
      port,
      codecKeys: process.env.PAYLOAD_CODEC_KEYS || generateKeyEntry(),
    }),
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? local.kafkaBrokers,
    // Each lane reads its execution's event stream: past STREAMS_PER_KEY (20) a stream is refused (429), the lane
    // sees no end and moves on, and a c=32 cell measured POSTs, not executions (until this stop's last run).
    STREAMS_PER_KEY: '100000',
    LOG_FORMAT: 'json',
    // Capacity must not be what binds: the bench measures orchestration.
    CAPACITY_GLOBAL: '64',
    CAPACITY_PER_OWNER: '64',
    CAPACITY_PER_LANGUAGE: '64',
  };
  const node = process.execPath;
  const profileDir = path.join(profileRoot, server);
  // A memory sample after a full GC needs each process's inspector (loopback, a port of its own).
  const inspectPorts = { api: await freeLoopbackPort(), worker: await freeLoopbackPort(), relay: await freeLoopbackPort() };
  const nodeArgs = (name: keyof typeof inspectPorts, script: string) => [
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, name)}`] : []),
    ...(sampleAfterGc ? [`--inspect=127.0.0.1:${inspectPorts[name]}`] : []),
    script,
  ];
  const processes: Record<string, ChildProcess | undefined> = {};
  // Ops ports of their own (both would take OPS_PORT's default): the memory samples read their /metrics.
  const opsPorts = { worker: await freeLoopbackPort(), relay: await freeLoopbackPort() };
  // The worker and the relay drain work: the back's CPU group, as the stack's Kafka (stack/back-cpu-group.ts).
  const back = (member: 'worker' | 'relay', script: string) => inBackGroup(backGroup, member, node, nodeArgs(member, script));
  const worker = back('worker', 'dist/worker.js');
  const relay = back('relay', 'dist/relay/main.js');
  processes.worker = startProcess('worker', worker.command, worker.args, { ...env, OPS_PORT: String(opsPorts.worker) });
  processes.relay = startProcess('relay', relay.command, relay.args, { ...env, OPS_PORT: String(opsPorts.relay) });
  processes.api = startProcess('api', node, nodeArgs('api', 'dist/api/server.js'), env);
  const connection = await Connection.connect({ address: temporalAddress });
  const temporal = new Client({ connection });
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const auth = await benchKeyHeader(databaseUrl);
  const submitted: string[] = [];

  const result: Record<string, unknown> = { temporal: temporalAddress, version: await serverVersion(temporal), loadAtStart: os.loadavg()[0] };
  if (server === 'dev') result.sqlitePragmas = temporalSqlitePragmas();
  try {
    await waitUntil('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, 60_000);
    const memory: MemorySample[] = [];
    const sampleMemory = async (after: string, workerThreadsHeapMb?: number) => {
      const t = await temporalRss(server);
      const [api, worker, relay] = await Promise.all([
        v8MemoryMb(`${apiUrl}/metrics`, 'eo_api_', auth),
        v8MemoryMb(`http://127.0.0.1:${opsPorts.worker}/metrics`, 'eo_worker_'),
        v8MemoryMb(`http://127.0.0.1:${opsPorts.relay}/metrics`, 'eo_relay_'),
      ]);
      const parts = workerThreadsHeapMb === undefined ? undefined : { api: rssParts(processes.api?.pid), worker: rssParts(processes.worker?.pid), relay: rssParts(processes.relay?.pid) };
      memory.push({ after, executions: submitted.length, apiMb: rssMb(processes.api?.pid), workerMb: rssMb(processes.worker?.pid), relayMb: rssMb(processes.relay?.pid), temporalMb: t.serverMb, temporalUiMb: t.uiMb, heapMb: { api: api?.used ?? null, worker: worker?.used ?? null, relay: relay?.used ?? null }, v8Mb: { api, worker, relay }, workerThreadsHeapMb, rssParts: parts });
    };
    /** A sample as found, then one after a full GC of api, worker and relay: what each keeps, the one to compare. */
    const sampleMemoryAfterGc = async (after: string) => {
      await sampleMemory(after);
      const [, worker] = await Promise.all([collectGarbage(inspectPorts.api), collectGarbage(inspectPorts.worker), collectGarbage(inspectPorts.relay)]);
      await new Promise((r) => setTimeout(r, 1_000)); // V8 gives freed pages back after the collection
      const threadsMb = worker.threads.reduce((sum, thread) => sum + thread.mb, 0);
      await sampleMemory(`${after}, after a full GC`, threadsMb);
      // What malloc freed stays resident until it purges it: jemalloc's dirty pages after 10 s (dirty_decay_ms).
      await new Promise((r) => setTimeout(r, 15_000));
      await sampleMemory(`${after}, after a full GC and 15 s`, threadsMb);
    };
    await (sampleAfterGc ? sampleMemoryAfterGc('start') : sampleMemory('start'));

    /** One execution: POST, then its event stream until `end`; the latency is POST → end. */
    const execute = async (language: string, script: string, limits = { wallTimeMs: 10_000 }): Promise<{ ms: number; postMs: number; postTiming: TimedRequest | null; status: string }> => {
      const t = performance.now();
      const res = await fetch(`${apiUrl}/api/v1/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ language, script, limits }),
      });
      const body = (await res.json()) as { id?: string; detail?: string };
      const postMs = performance.now() - t;
      const postTiming = timedRequest(postMs, res.headers.get('server-timing'));
      if (res.status !== 201 || !body.id) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
      submitted.push(body.id);
      const stream = await readEventStream(`${apiUrl}/api/v1/executions/${body.id}/stream`, auth, 120_000);
      const end = stream.events.find((e) => e.event === 'end');
      const status = end ? ((JSON.parse(end.data) as { status?: string }).status ?? 'unknown') : 'no end event';
      return { ms: performance.now() - t, postMs, postTiming, status };
    };

    say('warming up');
    for (const language of languages) await execute(language, SCRIPTS[language] ?? 'true');

    const cells: CellResult[] = [];
    for (const [i, concurrency] of concurrencies.entries()) {
      const count = counts[i] ?? counts.at(-1)!;
      const measureSaga = async (round: number) => {
        for (const language of languages) {
          const latencies: number[] = [];
          const postLatencies: number[] = [];
          const postTimings: TimedRequest[] = [];
          let failures = 0;
          // Warmed as the baseline is, at the cell's concurrency: one execution a lane, not measured.
          await runLanes(concurrency, concurrency, async () => void (await execute(language, SCRIPTS[language] ?? 'true')));
          const workerMetrics = `http://127.0.0.1:${opsPorts.worker}/metrics`;
          // Each read starts the window of the next.
          await Promise.all([eventLoopDelayMs(workerMetrics, 'eo_worker_'), eventLoopDelayMs(`${apiUrl}/metrics`, 'eo_api_', auth)]);
          const cpuBefore = cpuSnapshot();
          const wall = await runLanes(count, concurrency, async () => {
            const { ms, postMs, postTiming, status } = await execute(language, SCRIPTS[language] ?? 'true');
            latencies.push(ms);
            postLatencies.push(postMs);
            if (postTiming) postTimings.push(postTiming);
            if (status !== 'completed') failures++;
          });
          const cpuMsPerExecution = cpuPerUnit(cpuBefore, cpuSnapshot(), count, servicePids(processes));
          const post = summarize(postLatencies);
          const [workerLoopDelayMs, apiLoopDelayMs] = await Promise.all([eventLoopDelayMs(workerMetrics, 'eo_worker_'), eventLoopDelayMs(`${apiUrl}/metrics`, 'eo_api_', auth)]);
          cells.push({ section: 'end to end', language, concurrency, round, count, perSecond: (count / wall) * 1000, latencyMs: summarize(latencies), postLatencyMs: post, postTiming: timingBreakdown(postTimings), workerLoopDelayMs, apiLoopDelayMs, cpuMsPerExecution, failures });
          say(`${roundLabel(round)}end to end ${language} c=${concurrency}: ${((count / wall) * 1000).toFixed(2)}/s, p50 ${summarize(latencies).p50} ms, POST p50 ${post.p50} / p99 ${post.p99} ms`);
        }
      };
      const measureBaseline = async (round: number) => {
        const baseline = { ...(await runBaseline(temporal, baselineQueue, temporalAddress, concurrency, count, profileDir)), round };
        cells.push(baseline);
        say(`${roundLabel(round)}baseline c=${concurrency}: ${baseline.perSecond.toFixed(2)}/s, p50 ${baseline.latencyMs.p50} ms`);
      };
      for (let round = 1; round <= rounds; round++) {
        // Odd rounds: the saga first; even rounds: the baseline first.
        const order = round % 2 === 1 ? [measureSaga, measureBaseline] : [measureBaseline, measureSaga];
        for (const measure of order) await measure(round);
      }
    }
    result.cells = cells;

    // Every event of every execution reaches Kafka (the relay marks a row published once the broker acked it).
    const pendingEvents = async () => Number((await db.query(`SELECT count(*) FROM outbox_events WHERE state <> 'published'`)).rows[0].count);
    const publishedBy = Date.now();
    await waitUntil('every event published', async () => (await pendingEvents()) === 0, 120_000).catch(() => undefined);
    // A relay batch is settled in one statement: its rows share `published_at` (the transaction's now()).
    const totals = (await db.query(`SELECT count(*) AS all, count(*) FILTER (WHERE state = 'published') AS published, count(DISTINCT published_at) AS batches FROM outbox_events`)).rows[0];
    result.events = { total: Number(totals.all), published: Number(totals.published), relayBatches: Number(totals.batches), drainedInMs: Date.now() - publishedBy };
    await sampleMemory('sections 1–2');

    for (const checkpoint of endToEndOnly ? [] : memoryCheckpoints) {
      if (submitted.length >= checkpoint) continue;
      say(`running bash executions at concurrency 8 up to ${checkpoint} in all`);
      await runLanes(checkpoint - submitted.length, 8, async () => void (await execute('bash', 'true')));
      await sampleMemoryAfterGc(`${checkpoint} executions`);
      say(`memory after ${checkpoint}: ${JSON.stringify(memory.at(-2))}; after a full GC: ${JSON.stringify(memory.at(-1))}`);
    }
    result.memory = memory;

    if (!endToEndOnly) {
      const apiAndRelay = await measureApiAndRelay(apiUrl, env.KAFKA_BROKERS!.split(','), processes, submitted, temporal, auth);
      result.api = apiAndRelay.api;
      result.relay = apiAndRelay.relay;
      say(`relay alone: events committed straight into the outbox at ${apiRate}/s for ${apiSeconds} s, then ${relayBacklog} at once`);
      result.relayAlone = await measureRelayAlone(db, env.KAFKA_BROKERS!.split(','), submitted, apiRate, apiSeconds, relayBacklog);
    }
  } finally {
    stopping = true;
    // Sagas the bench left waiting (the worker was stopped for the API section) end now.
    await Promise.all(submitted.map((id) => temporal.workflow.getHandle(id).terminate('bench finished').catch(() => undefined)));
    await deleteReconcilerSchedule(temporal, taskQueue).catch(() => undefined);
    await Promise.all(Object.values(processes).map((p) => stopProcess(p)));
    await connection.close();
    await db.end();
  }
  if (profile) result.profiles = summarizeProfiles(profileDir, ROOT);
  return result;
}

/** The frontend's server version: the dev server embeds one, the production server is another. */
async function serverVersion(temporal: Client): Promise<string | null> {
  try {
    const info = await temporal.workflowService.getSystemInfo({});
    return info.serverVersion || null;
  } catch {
    return null;
  }
}

async function runBaseline(temporal: Client, taskQueue: string, address: string, concurrency: number, count: number, profileDir: string): Promise<CellResult> {
  const log = fs.openSync(path.join(os.tmpdir(), 'eo-bench-baseline-worker.log'), 'w');
  // Profiled through NODE_OPTIONS: tsx runs the worker in a node process of its own.
  const env = profile ? { ...process.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.join(profileDir, `baseline-worker-c${concurrency}`)}` } : process.env;
  // In the back's group, as the saga's worker is: the ratio compares like with like.
  const command = inBackGroup(backGroup, 'baseline-worker', path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bench/baseline/worker.ts', address, taskQueue]);
  const worker = stoppedWithBench(spawn(command.command, command.args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', log] }));
  fs.closeSync(log);
  try {
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      worker.once('exit', (code) => reject(new Error(`baseline worker exited with ${code}`)));
    });
    const run = () => temporal.workflow.execute('sameShapeSaga', { taskQueue, workflowId: `baseline-${randomUUID()}`, args: [randomUUID()] });
    // A fresh worker each cell: warmed at the cell's concurrency, one workflow a lane, not measured (as the saga is).
    await runLanes(concurrency, concurrency, async () => void (await run()));
    const latencies: number[] = [];
    const cpuBefore = cpuSnapshot();
    const wall = await runLanes(count, concurrency, async () => {
      const t = performance.now();
      await run();
      latencies.push(performance.now() - t);
    });
    const cpuMsPerExecution = cpuPerUnit(cpuBefore, cpuSnapshot(), count, { 'baseline worker': worker.pid });
    return { section: 'same-shape baseline', language: '-', concurrency, count, perSecond: (count / wall) * 1000, latencyMs: summarize(latencies), cpuMsPerExecution, failures: 0 };
  } finally {
    await stopProcess(worker);
  }
}

/** Adds a request's client latency (from `startedAt`) and its `Server-Timing` to `timings`, when given. */
function record(timings: TimedRequest[] | undefined, startedAt: number, res: Response): void {
  if (!timings) return;
  const timed = timedRequest(performance.now() - startedAt, res.headers.get('server-timing'));
  if (timed) timings.push(timed);
}

/** The service's processes by name, for the CPU accounts (bench/cpu-account.ts). */
const servicePids = (processes: Record<string, ChildProcess | undefined>) => ({ api: processes.api?.pid, worker: processes.worker?.pid, relay: processes.relay?.pid });

/**
 * API latency at a fixed rate: GET of a running execution; then, with the worker stopped, POST (each one
 * commits exactly one event, `execution_requested`, so the POST rate is the event rate) with every event
 * timed from its commit (occurred_at) to a Kafka consumer; then GET of a queued execution.
 */
async function measureApiAndRelay(
  apiUrl: string,
  brokers: string[],
  processes: Record<string, ChildProcess | undefined>,
  submitted: string[],
  temporal: Client,
  auth: Record<string, string>,
) {
  /** `timings`: where each request's `Server-Timing` goes, beside its latency as the bench saw it. */
  const post = async (timings?: TimedRequest[]): Promise<string> => {
    const t = performance.now();
    const res = await fetch(`${apiUrl}/api/v1/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 70_000 } }),
    });
    const { id } = (await res.json()) as { id: string };
    record(timings, t, res);
    submitted.push(id);
    return id;
  };
  const get = async (id: string, timings?: TimedRequest[]): Promise<string> => {
    const t = performance.now();
    const res = await fetch(`${apiUrl}/api/v1/executions/${id}`, { headers: auth });
    const { status } = (await res.json()) as { status: string };
    record(timings, t, res);
    return status;
  };
  const timings: Record<ApiRequest, TimedRequest[]> = { getRunning: [], postWorkerStopped: [], getWorkerStopped: [] };
  /** CPU per request of each fixed-rate run, by process: how busy the machine was while it was measured. */
  const cpu: Partial<Record<ApiRequest, Record<string, number>>> = {};
  /** How quiet the machine was before each fixed-rate run began (the POSTs: before their warm-up). */
  const quiet: Partial<Record<ApiRequest, Quiet>> = {};
  const measuredAtRate = async (name: ApiRequest, task: () => Promise<void>): Promise<Summary> => {
    quiet[name] ??= await waitForQuiet();
    const before = cpuSnapshot();
    const latencies = await atFixedRate(apiRate, apiSeconds * 1000, task);
    cpu[name] = cpuPerUnit(before, cpuSnapshot(), latencies.length, servicePids(processes));
    return summarize(latencies);
  };

  say(`API: GET of a running execution at ${apiRate}/s for ${apiSeconds} s`);
  const running = await post();
  await waitUntil('the execution to run', async () => (await get(running)) === 'running', 30_000);
  const getRunning = await measuredAtRate('getRunning', async () => void (await get(running, timings.getRunning)));
  await temporal.workflow.getHandle(running).cancel().catch(() => undefined);
  // Its end recorded before the worker is stopped: a stop at once would drain a run whose cancel is on its way.
  await waitUntil('the running execution to be cancelled', async () => (await get(running)) === 'cancelled', 30_000).catch(() => say('the cancelled execution did not end in 30 s'));

  say(`API and relay: POST at ${apiRate}/s for ${apiSeconds} s with the worker stopped, events read back from Kafka`);
  stopping = true;
  await stopProcess(processes.worker);
  processes.worker = undefined;
  stopping = false;
  const consumer = new Consumer({ groupId: `bench-${randomUUID()}`, clientId: 'bench', bootstrapBrokers: brokers, deserializers: stringDeserializers });
  const relayLatencies: number[] = [];
  const posted = new Set<string>();
  const early = new Map<string, number>(); // events that arrive before their POST has answered
  const stream: MessagesStream<string, string, string, string> = await consumer.consume({ topics: ['execution_requested'], mode: 'latest', autocommit: false, maxWaitTime: 50 });
  stream.on('data', (m) => {
    const latency = Date.now() - Date.parse((JSON.parse(m.value) as { occurred_at: string }).occurred_at);
    if (posted.has(m.key)) relayLatencies.push(latency);
    else early.set(m.key, latency);
  });
  let postWorkerStopped: Summary;
  try {
    await new Promise((r) => setTimeout(r, 2000)); // the group joins and takes its partitions
    quiet.postWorkerStopped = await waitForQuiet();
    // Unmeasured POSTs at the same rate first: after small end-to-end cells the stack is cold (a JIT not warm, Temporal's
    // caches empty), and the first seconds' POSTs stalled on Temporal (1,006 ms mean of the slowest 5 % against 130 ms).
    await atFixedRate(apiRate, WARM_UP_MS, async () => void (await post()));
    postWorkerStopped = await measuredAtRate('postWorkerStopped', async () => {
      const id = await post(timings.postWorkerStopped);
      posted.add(id);
      const latency = early.get(id);
      if (latency !== undefined) relayLatencies.push(latency);
    });
    await waitUntil('every execution_requested in Kafka', async () => relayLatencies.length >= posted.size, 30_000).catch(() => undefined);
  } finally {
    await stream.close();
    await consumer.close(true);
  }
  const relay = { eventsPerSecond: apiRate, seconds: apiSeconds, posted: posted.size, read: relayLatencies.length, latencyMs: summarize(relayLatencies) };

  const queued = await post();
  say(`API: GET of a queued execution (worker stopped) at ${apiRate}/s for ${apiSeconds} s`);
  const getQueued = await measuredAtRate('getWorkerStopped', async () => void (await get(queued, timings.getWorkerStopped)));
  const timing = Object.fromEntries(Object.entries(timings).map(([request, samples]) => [request, timingBreakdown(samples)]));
  return { api: { rate: apiRate, seconds: apiSeconds, getRunning, postWorkerStopped, getWorkerStopped: getQueued, timing, cpuMsPerRequest: cpu, quiet }, relay };
}

const SERVER_NAMES: Record<string, string> = {
  dev: 'dev server (`temporal server start-dev`, SQLite)',
  production: 'production server (`go.temporal.io/server`, Postgres)',
  external: 'TEMPORAL_ADDRESS',
};

/** Section 5's requests, by their key in the results, as the tables name them. */
const API_REQUESTS = { getRunning: 'GET of a running execution', postWorkerStopped: 'POST, worker stopped', getWorkerStopped: 'GET, worker stopped (queued)' } as const;
type ApiRequest = keyof typeof API_REQUESTS;

const TIMING_NOTE =
  'where the time went (mean ms of each part, from the API\'s `Server-Timing`; `api own`: its total less the named parts — parsing, validation, rendering, its event loop; `outside`: the client\'s latency less that total):';

/** ` (round N)` for a cell of a run with several rounds. */
const inRound = (c: CellResult): string => (rounds > 1 ? ` (round ${c.round ?? 1})` : '');

/** An end-to-end cell's throughput over its round's baseline at the same concurrency. */
function ratioToBaseline(cells: CellResult[], c: CellResult): number | undefined {
  const baseline = cells.find((b) => b.section === 'same-shape baseline' && b.concurrency === c.concurrency && (b.round ?? 1) === (c.round ?? 1));
  return baseline ? c.perSecond / baseline.perSecond : undefined;
}

/** Each language and concurrency's ratios, round by round, and their median (the middle two's mean for an even count). */
function medianRatios(cells: CellResult[]): Array<{ language: string; concurrency: number; ratios: number[]; median: number }> {
  const groups = new Map<string, { language: string; concurrency: number; ratios: number[] }>();
  for (const c of cells) {
    const ratio = c.section === 'end to end' ? ratioToBaseline(cells, c) : undefined;
    if (ratio === undefined) continue;
    const key = `${c.language} ${c.concurrency}`;
    const group = groups.get(key) ?? { language: c.language, concurrency: c.concurrency, ratios: [] };
    group.ratios.push(ratio);
    groups.set(key, group);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g.ratios].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return { ...g, median: sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2 };
  });
}

/** How the result names the back's CPU group; results before it had none. */
function backGroupLine(group: { weight: number } | { off: string } | undefined): string {
  if (group === undefined) return 'Back CPU group: none (before it existed).';
  if ('weight' in group) return `Back CPU group (stack/back-cpu-group.ts): the worker, the relay, the baseline's worker and Kafka at weight ${group.weight} together (EO_BACK_CPU_WEIGHT).`;
  return `Back CPU group: none (${group.off}); every process at its own weight.`;
}

function renderMarkdown(r: Record<string, unknown>): string {
  const machine = r.machine as { cpus: number; model: string; memoryGb: number; loadAtStart: number };
  const servers = Object.entries((r.servers ?? {}) as Record<string, Record<string, unknown>>);
  const name = (server: string, s: Record<string, unknown>) => `${server}${s.version ? ` ${String(s.version)}` : ''}`;
  const lines = [
    `# Benchmark ${String(r.at)}`,
    '',
    `Machine: ${machine.cpus} × ${machine.model}, ${machine.memoryGb} GiB, load ${machine.loadAtStart.toFixed(2)} at start. Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\`.`,
    `Service settings from the environment: ${Object.entries((r.settings ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(', ') || 'none (defaults)'}.`,
    `Service processes' allocator: ${r.allocator ? `\`${String(r.allocator)}\` (LD_PRELOAD)` : 'glibc\'s malloc'}.`,
    backGroupLine(r.backCpuGroup as { weight: number } | { off: string } | undefined),
    `Temporal servers: ${servers.map(([server, s]) => `${name(server, s)}: ${SERVER_NAMES[server] ?? server}${s.sqlitePragmas ? ` (pragmas ${(s.sqlitePragmas as string[]).join(', ') || 'none'})` : ''} at ${String(s.temporal)}, load ${Number(s.loadAtStart).toFixed(2)} when its turn began`).join('; ')}.`,
    '',
    '## 1–2. End to end (POST → `end` on the event stream) vs the same-shape baseline (raw Temporal, six no-op activities)',
    '',
    '| server | section | language | concurrency | round | n | per second | ratio to baseline | p50 ms | p95 ms | p99 ms | not completed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [server, s] of servers) {
    const cells = (s.cells ?? []) as CellResult[];
    for (const c of cells) {
      const ratio = c.section === 'end to end' ? ratioToBaseline(cells, c) : undefined;
      lines.push(`| ${server} | ${c.section} | ${c.language} | ${c.concurrency} | ${c.round ?? 1} | ${c.count} | ${c.perSecond.toFixed(2)} | ${ratio === undefined ? '' : `${ratio.toFixed(2)}×`} | ${c.latencyMs.p50} | ${c.latencyMs.p95} | ${c.latencyMs.p99} | ${c.failures} |`);
    }
  }
  const medians = servers.flatMap(([server, s]) => medianRatios((s.cells ?? []) as CellResult[]).map((m) => ({ server, ...m })));
  if (medians.some((m) => m.ratios.length > 1)) {
    lines.push('', 'Ratio to the baseline by round, and the median:', '', '| server | language | concurrency | ratios | median |', '| --- | --- | --- | --- | --- |');
    for (const m of medians) lines.push(`| ${m.server} | ${m.language} | ${m.concurrency} | ${m.ratios.map((x) => `${x.toFixed(2)}×`).join(', ')} | **${m.median.toFixed(2)}×** |`);
  }
  const posts = servers.flatMap(([server, s]) => ((s.cells ?? []) as CellResult[]).filter((c) => c.postLatencyMs).map((c) => `${server} ${c.language} c=${c.concurrency}${inRound(c)} ${c.postLatencyMs!.p50}/${c.postLatencyMs!.p99}`));
  if (posts.length > 0) lines.push('', `POST alone (201), p50/p99 ms: ${posts.join('; ')}.`);
  const postTimings = servers.flatMap(([server, s]) => ((s.cells ?? []) as CellResult[]).flatMap((c) => (c.postTiming ? timingRows(`${server}, ${c.language} c=${c.concurrency}${inRound(c)}`, c.postTiming) : [])));
  if (postTimings.length > 0) lines.push('', `Those POSTs: ${TIMING_NOTE}`, '', ...TIMING_TABLE_HEAD, ...postTimings);
  for (const [who, of] of [['Worker', (c: CellResult) => c.workerLoopDelayMs], ['API', (c: CellResult) => c.apiLoopDelayMs]] as const) {
    const loops = servers.flatMap(([server, s]) => ((s.cells ?? []) as CellResult[]).flatMap((c) => { const d = of(c); return d ? [`${server} ${c.language} c=${c.concurrency}${inRound(c)} ${d.p99}/${d.max}`] : []; }));
    if (loops.length > 0) lines.push('', `${who} event-loop delay during the cell, p99/max ms: ${loops.join('; ')}.`);
  }
  const cpu = servers.flatMap(([server, s]) => ((s.cells ?? []) as CellResult[]).filter((c) => c.cpuMsPerExecution).map((c) => ({ server, c })));
  if (cpu.length > 0) {
    lines.push('', 'CPU per execution over each cell, ms (from /proc: a process with the children it reaped; a sandboxed run counts to the worker):', '', '| server | section | language | concurrency | round | machine | by process |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const { server, c } of cpu) {
      const { machine, ...byProcess } = c.cpuMsPerExecution!;
      lines.push(`| ${server} | ${c.section} | ${c.language} | ${c.concurrency} | ${c.round ?? 1} | ${machine} | ${Object.entries(byProcess).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
    }
  }
  const [devRun, prodRun] = [servers.find(([n]) => n === 'dev')?.[1], servers.find(([n]) => n === 'production')?.[1]];
  if (devRun && prodRun) {
    lines.push('', '### Production server ÷ dev server (throughput)', '', '| section | language | concurrency | round | dev per second | production per second | production ÷ dev |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const c of (prodRun.cells ?? []) as CellResult[]) {
      const d = ((devRun.cells ?? []) as CellResult[]).find((x) => x.section === c.section && x.language === c.language && x.concurrency === c.concurrency && (x.round ?? 1) === (c.round ?? 1));
      if (d) lines.push(`| ${c.section} | ${c.language} | ${c.concurrency} | ${c.round ?? 1} | ${d.perSecond.toFixed(2)} | ${c.perSecond.toFixed(2)} | ${(c.perSecond / d.perSecond).toFixed(2)}× |`);
    }
  }
  for (const [server, s] of servers) {
    const events = s.events as { total: number; published: number; relayBatches?: number; drainedInMs: number } | undefined;
    const batches = events?.relayBatches ? `, in ${events.relayBatches} relay batches (${(events.published / events.relayBatches).toFixed(2)} events each)` : '';
    if (events) lines.push('', `Events (${server}): ${events.published} of ${events.total} published to Kafka${batches} (drained ${events.drainedInMs} ms after the last execution).`);
  }
  const runner = r.runner as { table?: string; error?: string } | undefined;
  if (runner) {
    lines.push('', `## 3. Runner: trivial scripts sandboxed vs the interpreter spawned directly (no Temporal; \`npm run bench:sandbox\`)`, '');
    lines.push(runner.table ?? `not measured: ${runner.error}`);
  }
  const relays = servers.filter(([, s]) => s.relay);
  if (relays.length > 0) {
    const first = relays[0]![1].relay as { eventsPerSecond: number; seconds: number };
    lines.push('', `## 4. Relay: commit → read from Kafka, ${first.eventsPerSecond} events/s for ${first.seconds} s`, '');
    lines.push('Alone: events committed straight into the outbox, one transaction each (insert + NOTIFY, as a status change commits them), nothing else at work. During POSTs: the POSTs of section 5, one event each, each also starting its saga.', '');
    lines.push('| server | events committed | read from Kafka | p50 ms | p95 ms | p99 ms | max ms |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const [server, s] of relays) {
      const alone = (s.relayAlone as RelayAloneResult | undefined)?.atRate;
      if (alone) lines.push(`| ${server}, alone | ${alone.committed} | ${alone.read} | ${alone.latencyMs.p50} | ${alone.latencyMs.p95} | ${alone.latencyMs.p99} | ${alone.latencyMs.max} |`);
      const relay = s.relay as { posted: number; read: number; latencyMs: Summary };
      lines.push(`| ${server}, during POSTs | ${relay.posted} | ${relay.read} | ${relay.latencyMs.p50} | ${relay.latencyMs.p95} | ${relay.latencyMs.p99} | ${relay.latencyMs.max} |`);
    }
    const backlogs = relays.filter(([, s]) => s.relayAlone);
    if (backlogs.length > 0) {
      lines.push('', 'Full speed: a backlog committed in one transaction, from its commit to its last event read from Kafka:', '', '| server | events | executions | read from Kafka | drained in ms | events/s | relay batches |', '| --- | --- | --- | --- | --- | --- | --- |');
      for (const [server, s] of backlogs) {
        const b = (s.relayAlone as RelayAloneResult).backlog;
        lines.push(`| ${server} | ${b.events} | ${b.executions} | ${b.read} | ${b.drainMs} | ${b.eventsPerSecond} | ${b.relayBatches} |`);
      }
    }
  }
  const apis = servers.filter(([, s]) => s.api);
  if (apis.length > 0) {
    const first = apis[0]![1].api as { rate: number; seconds: number };
    lines.push('', `## 5. API latency at ${first.rate} requests/s for ${first.seconds} s`, '', '| server | request | n | p50 ms | p95 ms | p99 ms | max ms |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const [server, s] of apis) {
      const api = s.api as Record<ApiRequest, Summary>;
      for (const [request, label] of Object.entries(API_REQUESTS) as [ApiRequest, string][]) {
        const x = api[request];
        lines.push(`| ${server} | ${label} | ${x.n} | ${x.p50} | ${x.p95} | ${x.p99} | ${x.max} |`);
      }
    }
    const breakdowns = apis.flatMap(([server, s]) => {
      const timing = (s.api as { timing?: Partial<Record<ApiRequest, TimingBreakdown | null>> }).timing ?? {};
      return (Object.entries(timing) as [ApiRequest, TimingBreakdown | null][]).flatMap(([request, b]) => (b ? timingRows(`${server}, ${API_REQUESTS[request]}`, b) : []));
    });
    if (breakdowns.length > 0) lines.push('', TIMING_NOTE, '', ...TIMING_TABLE_HEAD, ...breakdowns);
    const cpuRows = apis.flatMap(([server, s]) => {
      const { cpuMsPerRequest = {}, rate, quiet = {} } = s.api as { cpuMsPerRequest?: Partial<Record<ApiRequest, Record<string, number>>>; rate: number; quiet?: Partial<Record<ApiRequest, Quiet>> };
      return (Object.entries(cpuMsPerRequest) as [ApiRequest, Record<string, number>][]).map(([request, { machine = 0, ...byProcess }]) => {
        const top = Object.entries(byProcess).sort((a, b) => b[1] - a[1]).slice(0, 6);
        const before = quiet[request];
        return `| ${server} | ${API_REQUESTS[request]} | ${before ? `${(before.waitedMs / 1000).toFixed(0)} s, ${before.busyCores}` : '–'} | ${machine} | ${((machine * rate) / 1000).toFixed(2)} | ${top.map(([k, v]) => `${k} ${v}`).join(', ')} |`;
      });
    });
    if (cpuRows.length > 0) lines.push('', 'CPU per request while each was measured (from /proc), and the cores that makes at the rate; before each run the bench waited for the machine to be quiet (under 0.3 cores busy over a second, at most 30 s): how long, and the cores busy when it began:', '', '| server | request | quiet before: waited, cores | machine ms | cores busy | by process (the busiest) |', '| --- | --- | --- | --- | --- | --- |', ...cpuRows);
  }
  const memories = servers.filter(([, s]) => ((s.memory ?? []) as MemorySample[]).length > 0);
  if (memories.length > 0) {
    lines.push('', '## 6. Memory (RSS, MB; the Temporal server\'s own process, and the production server\'s Web UI server)', '', '| server | after | executions | api | worker | relay | Temporal server | Temporal UI server | V8 heap in use: api / worker / relay | worker\'s threads\' heaps |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [server, s] of memories) {
      for (const m of s.memory as MemorySample[]) lines.push(`| ${server} | ${m.after} | ${m.executions} | ${m.apiMb} | ${m.workerMb} | ${m.relayMb} | ${m.temporalMb ?? '–'} | ${m.temporalUiMb ?? '–'} | ${m.heapMb ? `${m.heapMb.api ?? '–'} / ${m.heapMb.worker ?? '–'} / ${m.heapMb.relay ?? '–'}` : '–'} | ${m.workerThreadsHeapMb ?? '–'} |`);
    }
    const parted = memories.flatMap(([server, s]) => (s.memory as MemorySample[]).filter((m) => m.rssParts).map((m) => [server, m] as const));
    if (parted.length > 0) {
      lines.push('', 'After each full GC, where the RSS is (MB, from /proc/<pid>/smaps): brk = malloc\'s main arena; wasm = WebAssembly memories (Prisma\'s query compiler); anon = other anonymous memory (the V8 heap, malloc\'s other arenas, stacks); files = the binary and libraries; lazy = of all those, pages freed with MADV_FREE, resident until the kernel needs them.', '', '| server | after | api: brk / wasm / anon / files / lazy | worker | relay |', '| --- | --- | --- | --- | --- |');
      const cell = (p: RssParts | null | undefined) => (p ? `${p.brk} / ${p.wasm} / ${p.anon} / ${p.files} / ${p.lazyFree}` : '–');
      for (const [server, m] of parted) lines.push(`| ${server} | ${m.after} | ${cell(m.rssParts!.api)} | ${cell(m.rssParts!.worker)} | ${cell(m.rssParts!.relay)} |`);
      lines.push('', 'The same samples, V8\'s part (MB, from /metrics): heap in use / heap committed / external (Buffers and ArrayBuffers, malloc\'d outside the heap). Anon growth beyond the committed heap and external memory is malloc\'s or native code\'s.', '', '| server | after | api | worker | relay |', '| --- | --- | --- | --- | --- |');
      const v8Cell = (v: V8MemoryMb | null | undefined) => (v ? `${v.used} / ${v.committed ?? '–'} / ${v.external ?? '–'}` : '–');
      for (const [server, m] of parted) lines.push(`| ${server} | ${m.after} | ${v8Cell(m.v8Mb?.api)} | ${v8Cell(m.v8Mb?.worker)} | ${v8Cell(m.v8Mb?.relay)} |`);
    }
  }
  for (const [server, s] of servers) {
    const summaries = (s.profiles ?? []) as ProfileSummary[];
    if (summaries.length > 0) lines.push('', `## CPU profiles (${server}): self time by package and by function`, ...profileMarkdown(summaries));
  }
  return `${lines.join('\n')}\n`;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

/** An admin key for the bench's requests, made in its database as `npm run keys` makes one. */
async function benchKeyHeader(databaseUrl: string): Promise<Record<string, string>> {
  const [token] = await createBenchKeys(databaseUrl, [{ ownerId: BENCH_OWNER, role: 'admin' }], 'bench/run.ts');
  return { authorization: `Bearer ${token}` };
}
