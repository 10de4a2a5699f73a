import type { RunObserver, RunResult, RunnerLog } from './runner';

/** What a runner's execution offers the registry: observers come and go while it runs. */
interface ObservedExecution {
  attach(observer: RunObserver | undefined): void;
}

/**
 * The runs one runner has in flight, by execution id: a retried activity (the same id) attaches to the run
 * already going instead of starting a second one, and a run leaves the registry when it settles.
 */
export function createRunsInFlight<E extends ObservedExecution>(log: RunnerLog | undefined) {
  const runs = new Map<string, { execution: E; promise: Promise<RunResult> }>();
  return {
    /** The promise of the run of this id already in flight, with `observer` attached; undefined when there is none. */
    attach(executionId: string, observer: RunObserver | undefined): Promise<RunResult> | undefined {
      const current = runs.get(executionId);
      if (!current) return undefined;
      current.execution.attach(observer);
      log?.info('run attached', { executionId });
      return current.promise;
    },
    /** Attaches `observer`, then starts the run and keeps it until it settles. */
    track(executionId: string, execution: E, start: () => Promise<RunResult>, observer: RunObserver | undefined): Promise<RunResult> {
      execution.attach(observer);
      const promise = start().finally(() => runs.delete(executionId));
      runs.set(executionId, { execution, promise });
      return promise;
    },
    get: (executionId: string) => runs.get(executionId),
    has: (executionId: string) => runs.has(executionId),
    ids: () => [...runs.keys()],
  };
}
