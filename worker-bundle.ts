import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { TRACE_PROPAGATION_MODULE, WORKFLOW_INTERCEPTOR_MODULE } from './observability/tracing';

/**
 * The saga's workflow bundles, made by `npm run build` beside the compiled code (dist/workflow-bundles/), one per
 * set of workflow interceptor modules a worker picks (observability/tracing.ts). A worker that finds a current one
 * skips bundling at start (webpack: ~1.5 s of a ~5 s start here), which is each new worker pod's time to its first
 * poll. Run from the sources (tsx, jest) there is none, and the worker bundles as before.
 */

/** The interceptor module sets built ahead: untraced workflows, and workflows recording spans. */
const PREBUILT_MODULE_SETS: ReadonlyArray<readonly string[]> = [[TRACE_PROPAGATION_MODULE], [WORKFLOW_INTERCEPTOR_MODULE]];
/** Our compiled directories a bundle is made of: the workflows, what they import, and the trace module's. */
const BUNDLED_DIRECTORIES = ['workflows', 'domain', 'observability'];
/** The compiled tree (dist/) this module runs from; none when run from the sources. */
const COMPILED_ROOT = __filename.endsWith('.js') ? __dirname : undefined;

const bundleFile = (root: string, modules: readonly string[]) =>
  path.join(root, 'workflow-bundles', `saga-${modules.map((m) => path.basename(m, path.extname(m))).join('+')}.js`);

/**
 * The newest modification time of what a bundle of `root` is made of, ms: its compiled directories, the OpenTelemetry
 * workflow interceptors and the SDK's workflow runtime (both rewritten by an `npm ci` that changes them).
 */
function newestBundledFile(root: string): number {
  const ours = BUNDLED_DIRECTORIES.flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.js'))
      .map((f) => path.join(root, dir, f)),
  );
  return Math.max(...[...ours, WORKFLOW_INTERCEPTOR_MODULE, require.resolve('@temporalio/workflow')].map((f) => statSync(f).mtimeMs));
}

/** The prebuilt bundle for these interceptor modules, if one was built and nothing it is made of changed since. */
export function prebuiltWorkflowBundle(modules: readonly string[], root = COMPILED_ROOT): string | undefined {
  if (!root || !PREBUILT_MODULE_SETS.some((set) => set.length === modules.length && set.every((m, i) => m === modules[i]))) return undefined;
  const file = bundleFile(root, modules);
  const built = statSync(file, { throwIfNoEntry: false });
  return built && built.mtimeMs >= newestBundledFile(root) ? file : undefined;
}

/** The saga's workflows at `workflowsPath` bundled with these interceptor modules, webpack's report left out. */
export function bundleSaga(workflowsPath: string, modules: readonly string[]): Promise<WorkflowBundleWithSourceMap> {
  const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  return bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [...modules], logger: quiet });
}

/** Writes that bundle to `file`, whole or not at all (a worker starting meanwhile never reads half of one). */
export async function writeSagaBundle(file: string, workflowsPath: string, modules: readonly string[]): Promise<void> {
  const { code } = await bundleSaga(workflowsPath, modules);
  writeFileSync(`${file}.part`, code);
  renameSync(`${file}.part`, file);
}

/** Writes every prebuilt bundle that is missing or older than what it is made of (`npm run build`); returns what it wrote. */
export async function writeWorkflowBundles(root = COMPILED_ROOT): Promise<string[]> {
  if (!root) throw new Error('bundles are built from the compiled code: run dist/worker-bundle.js (npm run build)');
  mkdirSync(path.join(root, 'workflow-bundles'), { recursive: true });
  const written: string[] = [];
  for (const modules of PREBUILT_MODULE_SETS) {
    if (prebuiltWorkflowBundle(modules, root)) continue;
    const file = bundleFile(root, modules);
    await writeSagaBundle(file, path.join(root, 'workflows'), modules);
    written.push(file);
  }
  return written;
}

if (require.main === module) {
  writeWorkflowBundles().then(
    (written) => process.stdout.write(written.length ? `workflow bundles written: ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}\n` : ''),
    (err: unknown) => {
      process.stderr.write(`workflow bundles: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
