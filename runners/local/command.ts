import type { RunLimits, RunnerLanguage } from '../runner';
import { TIME_FORMAT } from './time-report';

export const SCRIPT_FILE: Readonly<Record<RunnerLanguage, string>> = {
  python: 'main.py',
  node: 'main.js',
  bash: 'main.sh',
};

/** RLIMIT_CPU soft limit, whole seconds: the kernel counts CPU time in seconds. */
export function cpuLimitSeconds(limits: RunLimits): number {
  return Math.max(1, Math.ceil(limits.cpuTimeMs / 1000));
}

export interface CommandInput {
  language: RunnerLanguage;
  limits: RunLimits;
  interpreter: string;
  prlimitPath: string;
  /** GNU time and the file it reports to; null to run without it. */
  time: { path: string; reportFile: string } | null;
  /** coreutils timeout and when it kills the whole group; null to run without it. */
  backstop: { path: string; afterMs: number } | null;
  /** util-linux unshare, to run the script in an empty network namespace; null for the host's network. */
  netnsUnsharePath: string | null;
  /** RLIMIT_NPROC is only applied when true: root ignores it. */
  applyProcessLimit: boolean;
}

export interface Command {
  file: string;
  args: string[];
}

/**
 * Builds `[timeout -s KILL <wall + grace>] [time -o report] [unshare --net --] prlimit <limits> -- <interpreter> <flags> <script>`.
 *
 * - timeout is outermost, so it is the group leader the runner spawned (it only makes its own
 *   group when it is not one already) and its SIGKILL on expiry reaches the whole group. The
 *   runner kills at the wall limit itself; timeout is the backstop for a worker that died.
 * - time sits outside prlimit so the limits never hit it (an RLIMIT_FSIZE of 0 would stop it
 *   writing its report); it waits for the interpreter and reports its rusage.
 * - `--cpu=S:S+1`: SIGXCPU at the soft limit, SIGKILL one second later if it was caught.
 * - `--as` bounds the address space, which is what makes Python raise MemoryError. Not for node:
 *   V8 reserves far more virtual memory than it uses (it aborts at start-up under ~2 GiB of
 *   RLIMIT_AS whatever the heap size), so node gets `--max-old-space-size` instead. That bounds
 *   the JS heap only; Buffers, ArrayBuffers and WebAssembly memory are not limited.
 * - `--core=0`: SIGXCPU and SIGABRT would otherwise drop core files into the run dir.
 * - `unshare --net` execs in place (no fork, no PID namespace), so the process, its group, its
 *   exit status and its signals are the same with or without it; only the network is gone.
 */
export function buildCommand(input: CommandInput): Command {
  const { language, limits } = input;
  const cpuSeconds = cpuLimitSeconds(limits);
  const memoryBytes = Math.floor(limits.memoryMb * 1024 * 1024);
  const prlimitArgs = [
    `--cpu=${cpuSeconds}:${cpuSeconds + 1}`,
    `--fsize=${Math.floor(limits.maxFileSizeBytes)}`,
    '--core=0',
  ];
  if (language !== 'node') prlimitArgs.push(`--as=${memoryBytes}`);
  if (input.applyProcessLimit) prlimitArgs.push(`--nproc=${Math.floor(limits.maxProcesses)}`);

  const script = SCRIPT_FILE[language];
  const interpreterArgs =
    language === 'python'
      ? ['-I', '-u', script] // isolated (no user site, no PYTHON* env), unbuffered
      : language === 'node'
        ? [`--max-old-space-size=${Math.max(1, Math.floor(limits.memoryMb))}`, script]
        : [script];

  const limited = [input.prlimitPath, ...prlimitArgs, '--', input.interpreter, ...interpreterArgs];
  const isolated = input.netnsUnsharePath ? [input.netnsUnsharePath, '--net', '--', ...limited] : limited;
  const timed = input.time ? [input.time.path, '-f', TIME_FORMAT, '-o', input.time.reportFile, '--', ...isolated] : isolated;
  const guarded = input.backstop ? [input.backstop.path, '--signal=KILL', `${(input.backstop.afterMs / 1000).toFixed(3)}s`, ...timed] : timed;
  return { file: guarded[0]!, args: guarded.slice(1) };
}
