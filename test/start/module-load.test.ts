import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * What a process loads before it does anything: every module a process loads is start-up time (on Kubernetes,
 * each new worker pod's) and memory. The API connects to Temporal as a client only, and a worker with the local
 * runner never talks to Kubernetes, so neither loads those SDKs: @kubernetes/client-node alone is ~1,100 modules
 * and ~0.6 s here.
 */
const ROOT = path.join(__dirname, '..', '..');

/** The npm packages a fresh Node process has loaded once `entry` (a module of ours) is required. */
function packagesLoadedBy(entry: string): Set<string> {
  const script = `require(${JSON.stringify(path.join(ROOT, entry))});
const names = Object.keys(require.cache).map((f) => f.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)?.[1]).filter(Boolean);
process.stdout.write(JSON.stringify([...new Set(names)]));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' }, timeout: 60_000 });
  return new Set(JSON.parse(out) as string[]);
}

test('the API loads neither the Temporal worker SDK nor the Kubernetes client; the worker loads no Kubernetes client until RUNNER=kubernetes', () => {
  const api = packagesLoadedBy('api/server.ts');
  expect(api.has('@temporalio/client')).toBe(true);
  expect(api.has('@temporalio/worker')).toBe(false);
  expect(api.has('@kubernetes/client-node')).toBe(false);

  const worker = packagesLoadedBy('worker.ts');
  expect(worker.has('@temporalio/worker')).toBe(true);
  expect(worker.has('@kubernetes/client-node')).toBe(false);
}, 120_000);
