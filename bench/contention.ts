// What busy scripts cost the service around them. --hogs CPU-bound scripts (python `while True: pass`, one
// owner) keep the cores busy while another owner's clients submit trivial executions (bash `true`) and wait for
// each to end. Reports POST latency and POST → terminal latency, quiet and beside the hogs, for each runs' CPU
// weight (RUNNER_CPU_WEIGHT) in --weights, each on a fresh worker; the API runs alone beside it (a real
// deployment's API is not on the worker's host at all, so this is the harder case). Not part of `npm run bench`.
//
//   npm run bench:contention -- [--hogs=8] [--executions=40] [--clients=2] [--weights=100,10]
import os from 'node:os';
import { generateKeyEntry } from '../payload-codec/keyring';
import { stackEndpoints, upPart } from '../stack';
import { freeLoopbackPort } from '../stack/port';
import { createBenchKeys, freshBenchDatabase } from './database';
import { flag, numberFlag } from './flags';
import { benchServiceEnv, startBenchProcess, stopProcess, waitUntil } from './processes';
import { runLanes, summarize, type Summary } from './stats';

const DATABASE = 'eo_bench_contention';
const TERMINAL = new Set(['completed', 'failed', 'timed_out', 'cancelled', 'error']);

interface Cell {
  weight: number;
  hogs: number;
  post: Summary;
  endToEnd: Summary;
  failures: number;
}

async function main(): Promise<void> {
  const hogs = numberFlag('hogs', 8);
  const executions = numberFlag('executions', 40);
  const clients = numberFlag('clients', 2);
  const weights = flag('weights', '100,10').split(',').map(Number);
  // RUNNER_CPU_WEIGHT's own range: a worker given anything else refuses to start, and the bench would only time out.
  if (!weights.every((w) => Number.isInteger(w) && w >= 1 && w <= 10_000)) throw new Error(`--weights must be whole numbers from 1 to 10000, got '${flag('weights', '100,10')}'`);
  await Promise.all((['postgres', 'temporal', 'redis'] as const).map((part) => upPart(part)));
  const local = stackEndpoints();
  const databaseUrl = await freshBenchDatabase(DATABASE);
  const [user, hogOwner] = (await createBenchKeys(databaseUrl, [{ ownerId: 'bench-user', role: 'user' }, { ownerId: 'bench-hogs', role: 'user' }], 'bench/contention.ts')) as [string, string];

  const port = await freeLoopbackPort();
  const apiUrl = `http://127.0.0.1:${port}/api/v1`;
  const env: NodeJS.ProcessEnv = {
    ...benchServiceEnv({ databaseUrl, temporalAddress: local.temporalAddress, redisUrl: local.redisUrl, taskQueue: `bench-contention-${Date.now()}`, port, codecKeys: generateKeyEntry() }),
    CAPACITY_GLOBAL: '64',
    CAPACITY_PER_OWNER: '64',
    CAPACITY_PER_LANGUAGE: '64',
  };
  const api = startBenchProcess('contention-api', process.execPath, ['dist/api/server.js'], env);

  const request = async (token: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${apiUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const statusOf = async (token: string, id: string) => String((await request(token, 'GET', `/executions/${id}`)).json.status);

  const measure = async (weight: number, hogCount: number): Promise<Cell> => {
    const hogIds: string[] = [];
    for (let i = 0; i < hogCount; i++) {
      const { status, json } = await request(hogOwner, 'POST', '/executions', { language: 'python', script: 'while True: pass', limits: { wallTimeMs: 300_000, cpuTimeMs: 300_000 } });
      if (status !== 201) throw new Error(`hog POST answered ${status}: ${JSON.stringify(json)}`);
      hogIds.push(String(json.id));
    }
    await waitUntil('the hogs to run', async () => (await Promise.all(hogIds.map((id) => statusOf(hogOwner, id)))).every((s) => s === 'running'), 60_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const post: number[] = [];
    const endToEnd: number[] = [];
    let failures = 0;
    await runLanes(executions, clients, async () => {
      const began = performance.now();
      const { status, json } = await request(user, 'POST', '/executions', { language: 'bash', script: 'true' });
      post.push(performance.now() - began);
      if (status !== 201) return void (failures += 1);
      let state = String(json.status);
      while (!TERMINAL.has(state)) {
        await new Promise((r) => setTimeout(r, 20));
        state = await statusOf(user, String(json.id));
      }
      endToEnd.push(performance.now() - began);
      if (state !== 'completed') failures += 1;
    });
    for (const id of hogIds) await request(hogOwner, 'POST', `/executions/${id}/cancel`, { reason: 'bench done' });
    await waitUntil('the hogs to stop', async () => (await Promise.all(hogIds.map((id) => statusOf(hogOwner, id)))).every((s) => TERMINAL.has(s)), 60_000);
    return { weight, hogs: hogCount, post: summarize(post), endToEnd: summarize(endToEnd), failures };
  };

  const cells: Cell[] = [];
  try {
    await waitUntil('the API to be ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 60_000);
    for (const weight of weights) {
      const worker = startBenchProcess('contention-worker', process.execPath, ['dist/worker.js'], { ...env, PORT: undefined, OPS_PORT: String(await freeLoopbackPort()), RUNNER_CPU_WEIGHT: String(weight) });
      try {
        await measure(weight, 0); // warm-up: the worker's first runs start its spawner and caches
        cells.push(await measure(weight, 0), await measure(weight, hogs));
      } finally {
        await stopProcess(worker);
      }
    }
  } finally {
    await stopProcess(api);
  }
  console.log(`Busy scripts beside trivial executions: ${hogs} CPU-bound python scripts (another owner), ${executions} bash \`true\` executions by ${clients} client(s), ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}`);
  console.log('| runs\' CPU weight | busy scripts | POST p50 ms | POST p99 ms | POST → end p50 ms | p95 ms | p99 ms | failed |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of cells) console.log(`| ${c.weight} | ${c.hogs} | ${c.post.p50} | ${c.post.p99} | ${c.endToEnd.p50} | ${c.endToEnd.p95} | ${c.endToEnd.p99} | ${c.failures} |`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
