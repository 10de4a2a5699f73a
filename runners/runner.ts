/**
 * The runner contract: something that runs one user script under limits and reports how it
 * ended. `local` (child process) implements it today; `kubernetes` (a Pod) is meant to.
 */

import type { Language, RunLimits } from '../domain/runtimes';

// The runner takes the domain's languages and limits as they are (see domain/runtimes.ts for units).
export type RunnerLanguage = Language;
export type { RunLimits };

export interface RunSpec {
  executionId: string;
  language: RunnerLanguage;
  script: string;
  stdin?: string;
  limits: RunLimits;
}

/**
 * How a run ended:
 * - `exited`: the script ended by itself (any exit code, or a signal nobody here sent);
 * - `wall_timeout`: killed by the runner at `wallTimeMs`;
 * - `cpu_limit`: killed by the kernel at RLIMIT_CPU (SIGXCPU, or SIGKILL at the hard limit);
 * - `memory_limit`: failed to allocate under the memory limit (interpreter OOM report);
 * - `output_limit`: killed by the runner for flooding stdout/stderr;
 * - `killed`: killed on request (`destroy` or the caller's abort signal).
 */
export type RunTermination = 'exited' | 'wall_timeout' | 'cpu_limit' | 'memory_limit' | 'output_limit' | 'killed';

export interface RunResult {
  termination: RunTermination;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stdoutTruncated: boolean;
  stderr: string;
  stderrTruncated: boolean;
  wallTimeMs: number;
  cpuTimeMs: number | null;
  peakMemoryKb: number | null;
  startedAt: Date;
  finishedAt: Date;
}

export interface RunObserver {
  onHeartbeat?(info: { elapsedMs: number; pid: number }): void;
  signal?: AbortSignal;
}

export interface Runner {
  /** Runs the script to completion. Idempotent by executionId: if a run with this id is already in progress in this process, it attaches to it (returns the same promise) instead of starting a second process. */
  run(spec: RunSpec, observer?: RunObserver): Promise<RunResult>;
  /** Kills the whole process group of the execution, removes its temp dir. Idempotent; resolves true if something was killed. */
  destroy(executionId: string): Promise<boolean>;
  /** Execution ids currently running in this process. */
  active(): string[];
}

/** The logging a runner needs: a constant message plus fields. */
export interface RunnerLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
