import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { workerTracingInterceptors } from '../../observability/tracing';
import { bundleSaga, writeSagaBundle } from '../../worker-bundle';

const WORKFLOWS = require.resolve('../../workflows');
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * The saga's workflow bundle with these interceptor modules, made once per test file: replaying with
 * `workflowsPath` bundles anew for every history (about 1.5 s each here), with the bundle a replay takes ~0.1 s.
 */
export function sagaBundle(workflowInterceptorModules: readonly string[] = []): Promise<WorkflowBundleWithSourceMap> {
  const key = workflowInterceptorModules.join('\n');
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleSaga(WORKFLOWS, workflowInterceptorModules);
    bundles.set(key, bundle);
  }
  return bundle;
}

/** Where this run keeps its bundle files: the global setup's directory, or one of this process's own. */
let ownDirectory: string | undefined;
function bundleDirectory(): string {
  return process.env.EO_TEST_BUNDLE_DIR ?? (ownDirectory ??= mkdtempSync(path.join(os.tmpdir(), 'eo-test-bundles-')));
}

/**
 * The same bundle as a file, for a worker's `workflowBundlePath` (in this process or a spawned one): made once per
 * test run, not per worker. Jest forgets module state between files, so it is kept on disk; every worker start
 * with `workflowsPath` would bundle again (~2 s here). The directory lives for one run, so a bundle is never stale.
 */
export async function sagaBundleFile(workflowInterceptorModules: readonly string[]): Promise<string> {
  const name = createHash('sha256').update(workflowInterceptorModules.join('\n')).digest('hex').slice(0, 16);
  const file = path.join(bundleDirectory(), `saga-${name}.js`);
  if (!existsSync(file)) await writeSagaBundle(file, WORKFLOWS, workflowInterceptorModules);
  return file;
}

/** The bundle a worker process that records no spans makes itself (worker.ts), for the worker processes tests spawn. */
export function untracedWorkerBundleFile(): Promise<string> {
  return sagaBundleFile(workerTracingInterceptors(false).workflowModules ?? []);
}
