/**
 * The runner contract: something that runs one user script under limits and reports how it
 * ended: `local` (a sandboxed child process) and `kubernetes` (a Pod per execution) implement it.
 */

import type { Language, RunLimits } from '../domain/runtimes';

/**
 * The CPU weight of all of a worker's runs together, when they compete with the service (`RUNNER_CPU_WEIGHT`): one
 * ordinary process's share, so busy scripts cannot outweigh it and a short run is not kept waiting behind it
 * (README, Performance: 10 cost end-to-end throughput).
 */
export const DEFAULT_RUNS_CPU_WEIGHT = 100;

/** Sandbox launchers a local runner keeps started ahead of its runs (`RUNNER_PREPARED_SANDBOXES`). */
export const DEFAULT_PREPARED_SANDBOXES = 2;

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
 * - `cpu_limit`: the run's CPU time reached `cpuTimeMs` (all its processes together, killed by the
 *   runner; or one process at RLIMIT_CPU, killed by the kernel);
 * - `memory_limit`: the kernel's OOM killer acted in the run's cgroup, or an allocation failed
 *   under the limit (interpreter OOM report);
 * - `process_limit`: the run failed after forks were refused by its pids limit;
 * - `file_limit`: a file past `maxFileSizeBytes` (SIGXFSZ / EFBIG) or a full scratch dir (ENOSPC) made the run fail;
 * - `output_limit`: killed by the runner for flooding stdout/stderr;
 * - `killed`: killed on request (`destroy` or the caller's abort signal).
 */
export type RunTermination =
  | 'exited'
  | 'wall_timeout'
  | 'cpu_limit'
  | 'memory_limit'
  | 'process_limit'
  | 'file_limit'
  | 'output_limit'
  | 'killed';

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
  /** Peak memory of the run (all its processes together, from its cgroup), KiB. */
  peakMemoryKb: number | null;
  /** Whether the kernel's OOM killer killed a process of the run. */
  oomKilled: boolean;
  /** False when the run had no sandbox (`RUNNER_SANDBOX=none`): it ran as the worker's user, on the host. */
  sandboxed: boolean;
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
  /** Kills every process of the execution (on this host, whichever worker process started it). Idempotent; resolves true if something was killed. */
  destroy(executionId: string): Promise<boolean>;
  /** Execution ids currently running in this process. */
  active(): string[];
  /**
   * Removes runs left behind whose execution has ended, as `isFinished` tells (returns the ids of those that have);
   * returns the execution ids collected. Runners whose runs cannot outlive their worker (local) have none.
   */
  collectOrphans?(isFinished: (executionIds: string[]) => Promise<Set<string>>): Promise<string[]>;
  /** Lets go of what the runner holds besides its runs (the local runner's prepared launchers and spawner host), once no run is left to start. */
  close?(): Promise<void> | void;
}

/** The logging a runner needs: a constant message plus fields. */
export interface RunnerLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}
