import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  LocalExecution,
  pidRecordFile,
  timeReportFile,
  type ExecutionSettings,
  type PidRecord,
} from './local/local-execution';
import { groupsWorkingIn, isGone, killGroup, readStat } from './local/proc';
import type { RunLimits, RunResult, RunSpec, Runner, RunnerLanguage, RunnerLog } from './runner';

export interface LocalRunnerOptions {
  /**
   * Directory holding one temp dir per execution (`<workDir>/<executionId>`, mode 0700) and a
   * `.meta` dir with pid records and rusage reports.
   * @default `${os.tmpdir()}/eo-runs`
   */
  workDir?: string;
  /** Interval between heartbeats (and CPU/memory samples) while a script runs, ms. @default 1000 */
  heartbeatIntervalMs?: number;
  /**
   * Once stdout and stderr together exceed this multiple of `maxOutputBytes`, the run is killed
   * with `output_limit` (below it, output past the cap is counted and dropped). `Infinity`
   * never kills.
   * @default 4
   */
  outputKillFactor?: number;
  /**
   * Interpreter binaries by language.
   * @default python: the first of /usr/local/bin/python3, /usr/bin/python3, /bin/python3;
   * node: `process.execPath`; bash: /bin/bash
   */
  interpreters?: Partial<Record<RunnerLanguage, string>>;
  /** util-linux prlimit, which applies the rlimits; required. @default '/usr/bin/prlimit' */
  prlimitPath?: string;
  /**
   * GNU time, which reports the script's CPU time and peak RSS at exit; `null` to do without
   * (then only periodic /proc samples measure). @default '/usr/bin/time' when it exists
   */
  timePath?: string | null;
  /**
   * coreutils timeout, the outermost process of every run: it SIGKILLs the whole group
   * {@link WALL_BACKSTOP_GRACE_MS} after the wall limit even when no worker is left to do it (a worker
   * killed mid-run leaves its detached script behind). `null` to do without.
   * @default '/usr/bin/timeout' when it exists
   */
  timeoutPath?: string | null;
  /**
   * Scripts' network. `none`: each run gets an empty network namespace (`unshare --net`: no interfaces,
   * loopback down), and the runner refuses to start where that is not allowed. `auto`: `none` where the
   * host allows it, else the host's network with a warning at start. `host`: the worker's own network.
   * @default 'auto'
   */
  network?: RunnerNetwork;
  /** util-linux unshare, which makes the network namespace. @default '/usr/bin/unshare' */
  unsharePath?: string;
  log?: RunnerLog;
}

export type RunnerNetwork = 'none' | 'auto' | 'host';

/** How long after the wall limit the timeout backstop kills a run the worker did not (the worker died). */
export const WALL_BACKSTOP_GRACE_MS = 1_000;

interface CompiledOptions {
  workDir: string;
  metaDir: string;
  heartbeatIntervalMs: number;
  outputKillFactor: number;
  interpreters: Readonly<Record<RunnerLanguage, string>>;
  prlimitPath: string;
  timePath: string | null;
  timeoutPath: string | null;
  /** unshare when each run gets its own empty network namespace; null when runs share the host's network. */
  netnsUnsharePath: string | null;
  applyProcessLimit: boolean;
  log: RunnerLog | undefined;
}

const LANGUAGES: readonly RunnerLanguage[] = ['python', 'node', 'bash'];

/** Used as a path segment: no separators, no leading dot (so never `.`, `..` or `.meta`). */
const EXECUTION_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** How long `destroy` waits for an orphaned group (from an earlier worker) to die. */
const ORPHAN_KILL_WAIT_MS = 2000;

/**
 * A runner that executes each script as a child process group on this host.
 *
 * - Each run gets `<workDir>/<executionId>` (0700) as cwd, HOME and TMPDIR, the script as
 *   main.py / main.js / main.sh, and an env of only PATH, HOME, TMPDIR and LANG=C.UTF-8.
 * - Limits: prlimit sets RLIMIT_CPU, RLIMIT_AS (not for node: `--max-old-space-size`
 *   instead, see command.ts), RLIMIT_FSIZE, RLIMIT_CORE=0 and, when not root, RLIMIT_NPROC.
 *   The runner itself SIGKILLs the process group at `wallTimeMs`, on abort/destroy, and when
 *   output passes `outputKillFactor` × `maxOutputBytes`.
 * - With `network` none (or auto where the host allows it) each run has an empty network namespace.
 * - The group is always SIGKILLed once the script exits, so background children die with it
 *   (a child that calls setsid leaves the group and escapes; see the README of runners/).
 * - CPU time and peak RSS come from GNU time at exit, or /proc samples taken with each
 *   heartbeat and just before a kill.
 * - A run whose interpreter or wrapper cannot be started rejects with an Error.
 * @throws Error when prlimit (or an explicitly configured GNU time) is missing.
 */
export function createLocalRunner(opts: LocalRunnerOptions = {}): Runner {
  const config = compileOptions(opts);
  const runs = new Map<string, { execution: LocalExecution; promise: Promise<RunResult> }>();

  function settingsFor(spec: RunSpec): ExecutionSettings {
    return {
      runDir: join(config.workDir, spec.executionId),
      metaDir: config.metaDir,
      interpreter: config.interpreters[spec.language],
      prlimitPath: config.prlimitPath,
      timePath: config.timePath,
      backstop: config.timeoutPath ? { timeoutPath: config.timeoutPath, graceMs: WALL_BACKSTOP_GRACE_MS } : null,
      netnsUnsharePath: config.netnsUnsharePath,
      applyProcessLimit: config.applyProcessLimit,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      outputKillFactor: config.outputKillFactor,
      log: config.log,
    };
  }

  /**
   * A group left by an earlier worker process: found through its pid record, if still ours, and through
   * the processes working in the run's directory (a worker killed between spawn and writing the record
   * leaves no record).
   */
  async function destroyOrphan(executionId: string): Promise<boolean> {
    const runDir = join(config.workDir, executionId);
    const record = await readPidRecord(pidRecordFile(config.metaDir, executionId));
    const groups = new Set(groupsWorkingIn(runDir));
    if (record) {
      const leader = readStat(record.pid);
      // A leader with another start time means the pid was reused, so our group is long gone
      // (a pid is never reused while a group of that id exists). No leader at all: any process
      // still in group `pid` can only be a survivor of ours.
      if (leader === null || leader.startTime === record.startTime) groups.add(record.pid);
    }
    let killed = false;
    for (const pgid of groups) killed = killGroup(pgid) || killed;
    const deadline = Date.now() + ORPHAN_KILL_WAIT_MS;
    while (killed && (groupsWorkingIn(runDir).length > 0 || (record !== null && !isGone(record.pid))) && Date.now() < deadline) await delay(10);
    await Promise.all(
      [runDir, pidRecordFile(config.metaDir, executionId), timeReportFile(config.metaDir, executionId)].map(
        (path) => rm(path, { recursive: true, force: true }),
      ),
    );
    if (killed) config.log?.info('orphaned run destroyed', { executionId, pid: record?.pid });
    return killed;
  }

  return {
    run(spec, observer) {
      const current = runs.get(spec.executionId);
      if (current) {
        current.execution.attach(observer);
        config.log?.info('run attached', { executionId: spec.executionId });
        return current.promise;
      }
      try {
        validateSpec(spec);
      } catch (err) {
        return Promise.reject(err);
      }
      // A run of this id left by an earlier worker process (crashed mid-run) is killed first: a retried
      // run re-runs the script from the start, and never runs beside its predecessor.
      const execution = new LocalExecution(spec, { ...settingsFor(spec), beforeStart: () => destroyOrphan(spec.executionId) });
      execution.attach(observer);
      const promise = execution.promise.finally(() => runs.delete(spec.executionId));
      runs.set(spec.executionId, { execution, promise });
      return promise;
    },

    async destroy(executionId) {
      if (!EXECUTION_ID.test(executionId)) return false;
      const current = runs.get(executionId);
      if (!current) return destroyOrphan(executionId);
      const killed = current.execution.kill('killed');
      // Wait for the kill to land and the dir to go. A failed start is the run caller's to
      // handle (its promise rejects); for destroy it only means there was nothing to kill.
      await current.promise.catch(() => undefined);
      return killed;
    },

    active() {
      return [...runs.keys()];
    },
  };
}

function compileOptions(opts: LocalRunnerOptions): CompiledOptions {
  const workDir = resolve(opts.workDir ?? join(tmpdir(), 'eo-runs'));
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 1000;
  if (!(heartbeatIntervalMs >= 1 && Number.isFinite(heartbeatIntervalMs))) {
    throw new Error(`heartbeatIntervalMs must be a positive number of ms, got ${heartbeatIntervalMs}`);
  }
  const outputKillFactor = opts.outputKillFactor ?? 4;
  if (!(outputKillFactor >= 1)) throw new Error(`outputKillFactor must be at least 1, got ${outputKillFactor}`);

  const prlimitPath = opts.prlimitPath ?? '/usr/bin/prlimit';
  if (!isExecutable(prlimitPath)) {
    throw new Error(`prlimit is not executable at ${prlimitPath}: the local runner cannot enforce limits without it (util-linux)`);
  }
  const timePath = optionalTool(opts.timePath, '/usr/bin/time', 'GNU time');
  const timeoutPath = optionalTool(opts.timeoutPath, '/usr/bin/timeout', 'coreutils timeout');
  const netnsUnsharePath = networkIsolation(opts.network ?? 'auto', opts.unsharePath ?? '/usr/bin/unshare', opts.log);

  const python = ['/usr/local/bin/python3', '/usr/bin/python3', '/bin/python3'].find(isExecutable) ?? '/usr/bin/python3';
  const interpreters = { python, node: process.execPath, bash: '/bin/bash', ...opts.interpreters };

  return Object.freeze({
    workDir,
    metaDir: join(workDir, '.meta'),
    heartbeatIntervalMs,
    outputKillFactor,
    interpreters: Object.freeze(interpreters),
    prlimitPath,
    timePath,
    timeoutPath,
    netnsUnsharePath,
    // Root is exempt from RLIMIT_NPROC; for others it counts every process of the uid.
    applyProcessLimit: process.getuid?.() !== 0,
    log: opts.log,
  });
}

/**
 * Whether runs get an empty network namespace: tried once here (`unshare --net true`), since it needs
 * CAP_SYS_ADMIN (root, or a user namespace the host permits).
 * @throws Error when `none` is asked for and the host does not allow it.
 */
function networkIsolation(network: RunnerNetwork, unsharePath: string, log: RunnerLog | undefined): string | null {
  if (network === 'host') return null;
  const probe = isExecutable(unsharePath) ? spawnSync(unsharePath, ['--net', '--', '/bin/true'], { stdio: 'ignore', timeout: 5_000 }) : null;
  if (probe?.status === 0) return unsharePath;
  const why = probe ? `unshare --net failed (exit ${probe.status ?? probe.signal})` : `unshare is not executable at ${unsharePath}`;
  if (network === 'none') throw new Error(`runner network "none" is not possible here: ${why}`);
  log?.warn('scripts share the host network: no network namespace possible here', { reason: why });
  return null;
}

/** An optional helper binary: the default path when it exists, else none; an explicit path must exist. */
function optionalTool(configured: string | null | undefined, defaultPath: string, name: string): string | null {
  if (configured === undefined) return isExecutable(defaultPath) ? defaultPath : null;
  if (configured !== null && !isExecutable(configured)) throw new Error(`${name} is not executable at ${configured}`);
  return configured;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false; // absent or not executable: the caller decides whether that is fatal
  }
}

const LIMIT_MINIMUMS: Readonly<Record<keyof RunLimits, number>> = {
  wallTimeMs: 1,
  cpuTimeMs: 1,
  memoryMb: 1,
  maxOutputBytes: 0,
  maxProcesses: 1,
  maxFileSizeBytes: 0,
};

/** The runner's own guard: a bad spec here is a bug upstream, not a user error. */
function validateSpec(spec: RunSpec): void {
  if (!EXECUTION_ID.test(spec.executionId)) throw new Error(`executionId is not a safe path segment: ${JSON.stringify(spec.executionId)}`);
  if (!LANGUAGES.includes(spec.language)) throw new Error(`unsupported language: ${String(spec.language)}`);
  if (typeof spec.script !== 'string') throw new Error('script must be a string');
  for (const [name, minimum] of Object.entries(LIMIT_MINIMUMS)) {
    const value = spec.limits[name as keyof RunLimits];
    if (!(Number.isFinite(value) && value >= minimum)) throw new Error(`limits.${name} must be a number >= ${minimum}, got ${value}`);
  }
}

async function readPidRecord(path: string): Promise<PidRecord | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null; // no record: this process never ran that execution, or it already finished
  }
  try {
    const record = JSON.parse(text) as Partial<PidRecord>;
    return Number.isInteger(record.pid) && Number.isInteger(record.startTime) ? (record as PidRecord) : null;
  } catch {
    return null; // torn write during a crash: nothing we can safely kill
  }
}
