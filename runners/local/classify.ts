import type { RunTermination, RunnerLanguage } from '../runner';

export interface TerminationFacts {
  language: RunnerLanguage;
  /** Why the runner itself killed the run, if it did. */
  killReason: RunTermination | null;
  exitCode: number | null;
  signal: string | null;
  cpuTimeMs: number | null;
  /** The RLIMIT_CPU soft limit actually applied, ms (whole seconds). */
  cpuLimitMs: number;
  /** The end of stderr, kept even when stderr was truncated. */
  stderrTail: string;
  /** Processes of the run the kernel's OOM killer killed (from the run's cgroup; 0 without one). */
  oomKills: number;
  /** Forks refused by the run's pids limit (from the run's cgroup; 0 without one). */
  pidsRefused: number;
}

/**
 * What interpreters print when an allocation fails (RLIMIT_AS without a cgroup, node's
 * --max-old-space-size). Matched only against the stderr tail of a run that failed, so a script
 * cannot turn a success into `memory_limit`; it can fake one by printing these on the way out,
 * which only mislabels its own failure.
 */
const OUT_OF_MEMORY: Readonly<Record<RunnerLanguage, readonly RegExp[]>> = {
  python: [/^MemoryError\b/m],
  node: [/JavaScript heap out of memory/, /Array buffer allocation failed/],
  bash: [/\bx(?:m|re)alloc: cannot allocate\b/, /Cannot allocate memory/],
};
const ANY_OUT_OF_MEMORY = [/Cannot allocate memory/, /std::bad_alloc/];
/** RLIMIT_FSIZE as python and node see it (they ignore SIGXFSZ), and a full scratch tmpfs. */
const OUT_OF_FILE_SPACE = [/File too large/, /No space left on device/];

/**
 * Decides how a run ended, most specific evidence first:
 * 1. the runner's own kill (it knows why it killed: wall time, total CPU time, output, cancel);
 * 2. an OOM kill in the run's cgroup, whatever the exit status (a child killed for memory is the
 *    memory limit even when its parent carried on);
 * 3. the kernel's CPU limit: SIGXCPU, or SIGKILL at the hard limit with the CPU time to match;
 * 4. SIGXFSZ (a file past RLIMIT_FSIZE);
 * 5. on a failed run: forks refused by the pids limit; an interpreter's out-of-memory report; a
 *    file-size or disk-full error;
 * otherwise the script `exited`.
 */
export function classifyTermination(facts: TerminationFacts): RunTermination {
  if (facts.killReason) return facts.killReason;
  if (facts.oomKills > 0) return 'memory_limit';
  if (facts.signal === 'SIGXCPU') return 'cpu_limit';
  if (facts.signal === 'SIGKILL' && facts.cpuTimeMs !== null && facts.cpuTimeMs >= facts.cpuLimitMs) return 'cpu_limit';
  if (facts.signal === 'SIGXFSZ') return 'file_limit';
  const failed = facts.signal !== null || (facts.exitCode !== null && facts.exitCode !== 0);
  if (!failed) return 'exited';
  if (facts.pidsRefused > 0) return 'process_limit';
  if ([...OUT_OF_MEMORY[facts.language], ...ANY_OUT_OF_MEMORY].some((re) => re.test(facts.stderrTail))) return 'memory_limit';
  if (OUT_OF_FILE_SPACE.some((re) => re.test(facts.stderrTail))) return 'file_limit';
  return 'exited';
}
