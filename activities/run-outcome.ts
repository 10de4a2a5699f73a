import type { ErrorType, ExecutionStatus } from '../domain/execution-status';
import type { RunResult } from '../runners/runner';

/** How a finished run maps to a terminal status and error type. */
export function classifyRun(result: RunResult): { status: ExecutionStatus; errorType: ErrorType | null; errorMessage: string | null } {
  switch (result.termination) {
    case 'exited':
      return result.exitCode === 0
        ? { status: 'completed', errorType: null, errorMessage: null }
        : { status: 'failed', errorType: 'script_error', errorMessage: `exited with code ${result.exitCode}` };
    case 'wall_timeout':
      return { status: 'timed_out', errorType: 'timeout', errorMessage: 'wall-time limit reached' };
    case 'cpu_limit':
      return { status: 'timed_out', errorType: 'timeout', errorMessage: 'CPU-time limit reached' };
    case 'memory_limit':
      return { status: 'failed', errorType: 'resource_limit', errorMessage: result.oomKilled ? 'memory limit reached (OOM-killed)' : 'memory limit reached' };
    case 'process_limit':
      return { status: 'failed', errorType: 'resource_limit', errorMessage: 'process limit reached' };
    case 'file_limit':
      return { status: 'failed', errorType: 'resource_limit', errorMessage: 'file-size or disk limit reached' };
    case 'output_limit':
      return { status: 'failed', errorType: 'resource_limit', errorMessage: 'output limit reached' };
    case 'killed':
      return { status: 'failed', errorType: 'script_error', errorMessage: `killed by ${result.signal ?? 'a signal'}` };
  }
  throw new Error(`unknown run termination ${String(result.termination)}`);
}
