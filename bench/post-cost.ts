// What one POST /executions costs: the API process alone (no worker: each POST writes its row and starts its
// saga, which then waits), on a fresh database of the local stack, driven from outside over HTTP. Reports
// latency at 1 and at --concurrency clients, and CPU per POST of the API process and of the whole machine
// (from /proc), so that a change to the POST path can be judged by what it costs, not only by how long it waits.
//
//   npm run bench:post -- --posts=400 --concurrency=8 [--owners=1] [--profile]
import os from 'node:os';
import path from 'node:path';
import { generateKeyEntry } from '../payload-codec/keyring';
import { stackEndpoints, upPart } from '../stack';
import { freeLoopbackPort } from '../stack/port';
import { cpuPerUnit, cpuSnapshot } from './cpu-account';
import { summarizeProfiles } from './cpu-profile';
import { createBenchKeys, freshBenchDatabase } from './database';
import { numberFlag } from './flags';
import { benchServiceEnv, startBenchProcess, stopProcess, waitUntil } from './processes';
import { runLanes, summarize } from './stats';

const DATABASE = 'eo_bench_post';
const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const posts = numberFlag('posts', 400);
  const concurrency = numberFlag('concurrency', 8);
  const owners = numberFlag('owners', 1);
  const profile = process.argv.includes('--profile');
  await Promise.all((['postgres', 'temporal', 'redis'] as const).map((part) => upPart(part)));
  const local = stackEndpoints();
  const databaseUrl = await freshBenchDatabase(DATABASE);
  const tokens = await createBenchKeys(databaseUrl, Array.from({ length: owners }, (_, i) => ({ ownerId: `bench-${i}`, role: 'admin' as const })), 'bench/post-cost.ts');

  const port = await freeLoopbackPort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const profileDir = path.join(os.tmpdir(), `eo-bench-post-profile-${Date.now()}`);
  const api = startBenchProcess('post-api', process.execPath, [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profileDir, 'api')}`] : []), 'dist/api/server.js'],
    // What Server-Timing costs a POST: API_SERVER_TIMING=false npm run bench:post, against the default.
    benchServiceEnv({ databaseUrl, temporalAddress: local.temporalAddress, redisUrl: local.redisUrl, taskQueue: `bench-post-${Date.now()}`, port, codecKeys: generateKeyEntry() }),
  );
  try {
    await waitUntil('the API to be ready', async () => (await fetch(`${apiUrl}/readyz`)).ok, 60_000);
    const post = async (lane: number): Promise<number> => {
      const began = performance.now();
      const res = await fetch(`${apiUrl}/api/v1/executions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[lane % owners]!}` },
        body: JSON.stringify({ language: 'bash', script: 'true' }),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`POST answered ${res.status}`);
      return performance.now() - began;
    };
    const cell = async (clients: number) => {
      const latencies: number[] = [];
      const before = cpuSnapshot();
      const wallMs = await runLanes(posts, clients, async (i) => void latencies.push(await post(i % clients)));
      const cpuMsPerPost = cpuPerUnit(before, cpuSnapshot(), posts, { api: api.pid });
      return { clients, posts, perSecond: Math.round((posts / wallMs) * 1000 * 10) / 10, latencyMs: summarize(latencies), cpuMsPerPost };
    };
    await runLanes(100, 4, async (i) => void (await post(i))); // warm-up
    const cells = [await cell(1), await cell(concurrency)];
    console.log(`POST /executions, API process alone (no worker), ${owners} owner(s), bash \`true\`, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}`);
    console.log('| clients | POST/s | p50 ms | p99 ms | API CPU ms/POST | machine CPU ms/POST |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const c of cells) console.log(`| ${c.clients} | ${c.perSecond} | ${c.latencyMs.p50} | ${c.latencyMs.p99} | ${c.cpuMsPerPost.api} | ${c.cpuMsPerPost.machine} |`);
    for (const c of cells) console.log(`CPU ms per POST by process, ${c.clients} client(s): ${Object.entries(c.cpuMsPerPost).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  } finally {
    await stopProcess(api);
  }
  if (profile) {
    await new Promise((r) => setTimeout(r, 500));
    for (const s of summarizeProfiles(profileDir, ROOT)) {
      console.log(`\n${s.process}: busy ${s.busyMs} ms of ${s.wallMs} ms`);
      for (const p of s.byPackage) console.log(`  ${String(p.ms).padStart(6)} ms  ${p.name}`);
      for (const f of s.byFunction) console.log(`  ${String(f.ms).padStart(6)} ms  ${f.name}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
