import { Worker as NodeWorker } from 'node:worker_threads';
import { Worker } from '@temporalio/worker';
import type { Logger } from '@temporalio/worker';
import type { CompiledWorkerOptions } from '@temporalio/worker/lib/worker-options';
import type { WorkflowCreator } from '@temporalio/worker/lib/workflow/interface';
import { ThreadedVMWorkflowCreator, WorkerThreadClient } from '@temporalio/worker/lib/workflow/threaded-vm';
import type { WorkflowBundleWithSourceMapAndFilename } from '@temporalio/worker/lib/workflow/workflow-worker-thread/input';

/**
 * The SDK's workflow thread, with every vm call that carries a `timeout` (the SDK's deadlock detection,
 * `isolateExecutionTimeout`) kept to that deadline by the process's one watchdog thread (isolate-watchdog.cc)
 * instead of a thread per call. Same interrupt, same error; a call without a timeout is untouched.
 */
function workflowThreadSource(addonPath: string): string {
  return `
const vm = require('node:vm');
const { guardedCall } = require(${JSON.stringify(addonPath)});
const runInContext = vm.Script.prototype.runInContext;
vm.Script.prototype.runInContext = function runInContextUnderSharedWatchdog(contextifiedObject, options) {
  if (options == null || options.timeout === undefined) return runInContext.call(this, contextifiedObject, options);
  const { timeout, ...rest } = options;
  return guardedCall(() => runInContext.call(this, contextifiedObject, rest), timeout);
};
require(${JSON.stringify(require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread'))});
`;
}

/**
 * A Temporal Worker whose workflow threads use the shared watchdog. It starts the SDK's own thread script and
 * sends it the SDK's init message, as ThreadedVMWorkflowCreator.create does (SDK 1.24), from another entry.
 * `debugMode` (workflows on the main thread) is left to the SDK.
 */
export function workerWithSharedWatchdog(addonPath: string): typeof Worker {
  return class WorkerWithSharedWatchdog extends Worker {
    protected static override async createWorkflowCreator(
      workflowBundle: WorkflowBundleWithSourceMapAndFilename,
      options: CompiledWorkerOptions,
      logger: Logger,
    ): Promise<WorkflowCreator> {
      if (options.debugMode) return super.createWorkflowCreator(workflowBundle, options, logger);
      const threads = Array.from(
        { length: options.workflowThreadPoolSize },
        () => new WorkerThreadClient(new NodeWorker(workflowThreadSource(addonPath), { eval: true }), logger, options.patchActivationCallback),
      );
      await Promise.all(
        threads.map((thread) =>
          thread.send({
            type: 'init',
            workflowBundle,
            isolateExecutionTimeoutMs: options.isolateExecutionTimeoutMs,
            reuseV8Context: options.reuseV8Context ?? true,
            registeredActivityNames: new Set(options.activities.keys()),
            hasPatchActivationCallback: options.patchActivationCallback !== undefined,
          }),
        ),
      );
      return new ThreadedVMWorkflowCreator(threads);
    }
  };
}
