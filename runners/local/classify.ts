import type { RunTermination, RunnerLanguage } from '../runner';

export interface TerminationFacts {
  language: RunnerLanguage;
  /** Why the runner itself killed the group, if it did. */
  killReason: RunTermination | null;
  exitCode: number | null;
  signal: string | null;
  cpuTimeMs: number | null;
  /** The RLIMIT_CPU soft limit actually applied, ms (whole seconds). */
  cpuLimitMs: number;
  /** The end of stderr, kept even when stderr was truncated. */
  stderrTail: string;
  /** How long the run took and its limit, ms. */
  wallTimeMs: number;
  wallLimitMs: number;
}

/**
 * What interpreters print when an allocation fails under RLIMIT_AS / --max-old-space-size.
 * Matched only against the stderr tail of a run that failed, so a script cannot turn a
 * success into `memory_limit`; it can fake one by printing these on the way out, which only
 * mislabels its own failure.
 */
const OUT_OF_MEMORY: Readonly<Record<RunnerLanguage, readonly RegExp[]>> = {
  python: [/^MemoryError\b/m],
  node: [/JavaScript heap out of memory/, /Array buffer allocation failed/],
  bash: [/\bx(?:m|re)alloc: cannot allocate\b/, /Cannot allocate memory/],
};
const ANY_OUT_OF_MEMORY = [/Cannot allocate memory/, /std::bad_alloc/];

/**
 * Decides how a run ended. The runner's own kill wins (it knows why it killed); then a SIGKILL
 * past the wall limit (the timeout backstop got there before the runner's timer); then the
 * kernel's CPU limit (SIGXCPU, or SIGKILL at the hard limit with the CPU time to match); then
 * an interpreter's out-of-memory report on a failed run; otherwise the script `exited`.
 */
export function classifyTermination(facts: TerminationFacts): RunTermination {
  if (facts.killReason) return facts.killReason;
  if (facts.signal === 'SIGKILL' && facts.wallTimeMs >= facts.wallLimitMs) return 'wall_timeout';
  if (facts.signal === 'SIGXCPU') return 'cpu_limit';
  if (facts.signal === 'SIGKILL' && facts.cpuTimeMs !== null && facts.cpuTimeMs >= facts.cpuLimitMs) return 'cpu_limit';
  const failed = facts.signal !== null || (facts.exitCode !== null && facts.exitCode !== 0);
  if (failed && [...OUT_OF_MEMORY[facts.language], ...ANY_OUT_OF_MEMORY].some((re) => re.test(facts.stderrTail))) {
    return 'memory_limit';
  }
  return 'exited';
}
