import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * The saga's workflow bundle with these interceptor modules, made once per test file: replaying with
 * `workflowsPath` bundles anew for every history (about 1.5 s each here), with the bundle a replay takes ~0.1 s.
 */
export function sagaBundle(workflowInterceptorModules: readonly string[] = []): Promise<WorkflowBundleWithSourceMap> {
  const key = workflowInterceptorModules.join('\n');
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), workflowInterceptorModules: [...workflowInterceptorModules], logger: quiet });
    bundles.set(key, bundle);
  }
  return bundle;
}
