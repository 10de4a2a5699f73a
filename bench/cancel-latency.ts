// Measures how long a cancel takes to land: from the API call to (a) the script's processes gone and
// (b) status `cancelled`, over N runs of a running `sleep 60`. Usage: npm run bench:cancel -- [runs=20]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import globalSetup from '../test/support/global-setup';
import globalTeardown from '../test/support/global-teardown';
import { apiClient } from '../test/support/api-client';
import { startService, waitFor } from '../test/support/harness';
import { pidsOfRun } from '../test/support/processes';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 20);
  await globalSetup();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'eo-bench-cancel-'));
  const service = await startService({ RUNNER_WORK_DIR: workDir });
  const api = apiClient(service.api.url, service.adminKey);
  const toGone: number[] = [];
  const toCancelled: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const { json } = await api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
      await api.waitForStatus(json.id, (s) => s === 'running');
      await waitFor('the script process', async () => (pidsOfRun(json.id).length > 0 ? true : undefined), { deadlineMs: 10_000, intervalMs: 5 });
      const start = performance.now();
      await api.cancel(json.id, 'bench');
      let gone: number | null = null;
      await waitFor('cancelled', async () => {
        if (gone === null && pidsOfRun(json.id).length === 0) gone = performance.now() - start;
        return (await api.get(json.id)).json.status === 'cancelled' ? true : undefined;
      }, { deadlineMs: 30_000, intervalMs: 5 });
      toCancelled.push(performance.now() - start);
      toGone.push(gone ?? performance.now() - start);
    }
  } finally {
    await service.stop();
    await globalTeardown();
  }
  const report = (name: string, xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    console.log(`${name.padEnd(22)} p50 ${percentile(sorted, 50).toFixed(0)} ms   p90 ${percentile(sorted, 90).toFixed(0)} ms   max ${sorted.at(-1)!.toFixed(0)} ms   (n=${xs.length})`);
  };
  console.log(`cancel of a running sleep 60, ${runs} runs, measured from the API call:`);
  report('run processes gone', toGone);
  report('status cancelled', toCancelled);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
