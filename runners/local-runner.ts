import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CgroupTree, cgroupMovesFavored, detectCgroupLayout, type RunCgroup } from './local/cgroup';
import { LocalExecution, type Confinement } from './local/local-execution';
import { detectRuntimes, type DetectedRuntime } from './local/runtime-registry';
import { reachableInterpreter } from './local/reachable-interpreter';
import { PreparedSandboxes } from './local/prepared-sandboxes';
import { DEFAULT_SANDBOX_TOOLS, SECCOMP_FD, START_FD, STATUS_FD, buildLauncherCommand, buildSandboxStart, type SandboxTools } from './local/sandbox-command';
import { buildSeccompFilter } from './local/seccomp-filter';
import { DEFAULT_PREPARED_SANDBOXES, DEFAULT_RUNS_CPU_WEIGHT, type Runner, type RunnerLanguage, type RunnerLog } from './runner';
import { createSpawner, type Spawner } from './local/spawner';
import { createRunsInFlight } from './runs-in-flight';
import { isSafeExecutionId, validateRunSpec } from './run-spec';

/** `bwrap`: every run in a bubblewrap sandbox with its own cgroup. `none`: no sandbox at all (unsafe). */
export type RunnerSandbox = 'bwrap' | 'none';

export interface LocalRunnerOptions {
  /**
   * How runs are confined. `bwrap` probes the sandbox at creation and throws when it cannot
   * isolate; `none` runs scripts on the host as the worker's user, warns, and marks every result
   * `sandboxed: false`.
   * @default 'bwrap'
   */
  sandbox?: RunnerSandbox;
  /**
   * `none` only: directory holding one private dir per execution (`<workDir>/<executionId>`, 0700).
   * Sandboxed runs use no host directory.
   * @default `${os.tmpdir()}/eo-runs`
   */
  workDir?: string;
  /** Interval between heartbeats while a script runs, ms. @default 1000 */
  heartbeatIntervalMs?: number;
  /**
   * Once stdout and stderr together exceed this multiple of `maxOutputBytes`, the run is killed
   * with `output_limit` (below it, output past the cap is counted and dropped). `Infinity`
   * never kills.
   * @default 4
   */
  outputKillFactor?: number;
  /** Interpreter binaries by language, instead of the registry's candidates (runtime-registry.ts). */
  interpreters?: Partial<Record<RunnerLanguage, string>>;
  /** Paths of sh, setpriv, prlimit and bwrap. @default /bin/sh, /usr/bin/{setpriv,prlimit,bwrap} */
  tools?: Partial<SandboxTools>;
  /** Size of each of a sandboxed run's tmpfs, /box and /tmp, bytes (also charged to its memory limit). @default 67108864 (64 MiB) */
  scratchBytes?: number;
  /**
   * The unprivileged host uid and gid bwrap runs as when the worker is root. A worker that is not
   * root runs bwrap as itself.
   * @default { uid: 65534, gid: 65534 } (nobody, nogroup)
   */
  hostUser?: { uid: number; gid: number };
  /**
   * The CPU weight of all sandboxed runs together when the machine is contended, on cgroup v2's scale
   * (100 is one ordinary process's share, 1–10000): however many runs are busy, together they weigh this
   * against the API, the worker and the stack; an idle machine is still all the runs'. No effect without a
   * cpu controller.
   * @default 100
   */
  runsCpuWeight?: number;
  /**
   * Sandbox launchers kept started ahead of their runs, already in their cgroups (prepared-sandboxes.ts): a run
   * that finds one skips the launcher's fork and its cgroup joins (~5–15 ms). 0 starts each run's on demand.
   * Unused ones go after 30 s.
   * @default 2
   */
  preparedSandboxes?: number;
  log?: RunnerLog;
}

/** The local runner, plus what it found at start. */
export interface LocalRunner extends Runner {
  /** The interpreters found on this host, with their versions. */
  readonly runtimes: readonly DetectedRuntime[];
  readonly sandbox: RunnerSandbox;
  /** Removes the prepared sandbox launchers and ends the spawner host (it would otherwise go after 30 s idle); a later run starts another host. */
  close(): Promise<void>;
}

const NOBODY = { uid: 65534, gid: 65534 };

/**
 * A runner that executes each script as a child process on this host, in a sandbox (see
 * runners/README.md for the threat model):
 *
 * - bubblewrap: its own user, pid, mount, network, ipc and uts namespaces; uid 1000 inside, an
 *   unprivileged uid outside; no capabilities, no new privileges, no further user namespaces; a
 *   seccomp filter; read-only /usr and a few /etc files; private size-capped tmpfs /box (cwd, HOME)
 *   and /tmp; the script enters through a pipe; the environment is PATH, HOME, TMPDIR, LANG and what
 *   the runtime declares.
 * - a cgroup per run: memory without swap, pids; peak memory, OOM kills and CPU time read from it;
 *   every kill goes through `cgroup.kill`, so a `setsid` double fork dies too.
 * - rlimits: RLIMIT_CPU per process, RLIMIT_FSIZE, no core dumps; the runner kills at `wallTimeMs`,
 *   at `cpuTimeMs` of CPU summed over the run, on abort/destroy, and when output passes
 *   `outputKillFactor` × `maxOutputBytes`.
 * - a worker that dies takes its runs with it (`--die-with-parent`); the next worker on the host
 *   sweeps whatever cgroups a dead worker left.
 * @throws Error naming the reason when the sandbox cannot isolate here (and `sandbox` is not `none`).
 */
export function createLocalRunner(opts: LocalRunnerOptions = {}): LocalRunner {
  const sandbox = opts.sandbox ?? 'bwrap';
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 1000;
  if (!(heartbeatIntervalMs >= 1 && Number.isFinite(heartbeatIntervalMs))) {
    throw new Error(`heartbeatIntervalMs must be a positive number of ms, got ${heartbeatIntervalMs}`);
  }
  const runsCpuWeight = opts.runsCpuWeight ?? DEFAULT_RUNS_CPU_WEIGHT;
  if (!(Number.isInteger(runsCpuWeight) && runsCpuWeight >= 1 && runsCpuWeight <= 10_000)) {
    throw new Error(`runsCpuWeight must be an integer from 1 to 10000 (cgroup v2's cpu.weight), got ${runsCpuWeight}`);
  }
  const outputKillFactor = opts.outputKillFactor ?? 4;
  if (!(outputKillFactor >= 1)) throw new Error(`outputKillFactor must be at least 1, got ${outputKillFactor}`);
  const tools = { ...DEFAULT_SANDBOX_TOOLS, ...opts.tools };
  if (!isExecutable(tools.prlimit)) {
    throw new Error(`prlimit is not executable at ${tools.prlimit}: the local runner cannot enforce limits without it (util-linux)`);
  }
  let runtimes = detectRuntimes(opts.interpreters);
  const log = opts.log;

  const preparedSandboxes = opts.preparedSandboxes ?? DEFAULT_PREPARED_SANDBOXES;
  if (!(Number.isInteger(preparedSandboxes) && preparedSandboxes >= 0 && preparedSandboxes <= 64)) {
    throw new Error(`preparedSandboxes must be an integer from 0 to 64, got ${preparedSandboxes}`);
  }

  let confine: (executionId: string) => Confinement;
  let cgroups: CgroupTree | null = null;
  let launchers: PreparedSandboxes | null = null;
  let ready: Promise<unknown> = Promise.resolve();
  let spawner: Spawner; // one per branch: the sandbox's host joins the runs' cpu cgroup
  if (sandbox === 'bwrap') {
    const hostUser = process.getuid?.() === 0 ? (opts.hostUser ?? NOBODY) : null;
    if (hostUser) runtimes = runtimes.map((runtime) => reachableInterpreter(runtime, hostUser));
    const scratchBytes = opts.scratchBytes ?? 64 * 1024 * 1024;
    const seccompFilter = buildSeccompFilter();
    const tree = probeSandbox({ tools, hostUser, seccompFilter, scratchBytes, runsCpuWeight });
    cgroups = tree.cgroups;
    spawner = createSpawner(log, tree.cgroups.cpuWeight.set ? tree.cgroups.cpuWeight.spawnerProcsFile : null);
    const pool = new PreparedSandboxes({ cgroups: tree.cgroups, spawner, tools, hostUser, size: preparedSandboxes, log });
    launchers = pool;
    ready = tree.ready.then((swept) => {
      if (swept > 0) log?.info('runs of a dead worker swept', { runs: swept });
      pool.fill();
    });
    // Fails fast in run() if the sweep failed; the probe already showed the hierarchy is writable.
    ready.catch((err: unknown) => log?.warn('sweeping leftover runs failed', { err: String(err) }));
    confine = () => ({ kind: 'bwrap', launchers: pool, tools, seccompFilter, scratchBytes });
    log?.info('runner sandbox ready', {
      sandbox,
      cgroups: tree.cgroups.layout.kind,
      hostUid: hostUser?.uid ?? process.getuid?.(),
      runsCpuWeight: tree.cgroups.cpuWeight.set ? runsCpuWeight : `not set: ${tree.cgroups.cpuWeight.why}`,
      cgroupMoves: cgroupMovesFavored()
        ? 'prompt (favordynmods)'
        : `each may wait for an RCU grace period: mount cgroup2 with favordynmods (runners/README.md)${preparedSandboxes > 0 ? '; a prepared launcher waits before its run' : ''}`,
      preparedSandboxes,
    });
  } else {
    const workDir = resolve(opts.workDir ?? join(tmpdir(), 'eo-runs'));
    const applyProcessLimit = process.getuid?.() !== 0; // root ignores RLIMIT_NPROC
    spawner = createSpawner(log);
    confine = (executionId) => ({ kind: 'none', runDir: join(workDir, executionId), prlimit: tools.prlimit, applyProcessLimit });
    log?.warn('RUNNER_SANDBOX=none: SCRIPTS RUN UNSANDBOXED, as the worker user on the host; every result is marked sandboxed=false', {
      sandbox,
    });
  }

  const runs = createRunsInFlight<LocalExecution>(log);
  const byLanguage = new Map(runtimes.map((runtime) => [runtime.language, runtime]));

  return {
    runtimes,
    sandbox,

    run(spec, observer) {
      const attached = runs.attach(spec.executionId, observer);
      if (attached) return attached;
      try {
        validateRunSpec(spec);
      } catch (err) {
        return Promise.reject(err);
      }
      const runtime = byLanguage.get(spec.language);
      if (!runtime) return Promise.reject(new Error(`no ${spec.language} interpreter is installed on this host`));
      // A run of this id left by another worker process (one that died mid-run, on this host) is
      // killed first: a retried run re-runs the script from the start, never beside its predecessor.
      const beforeStart = async () => {
        await ready;
        await cgroups?.destroyRun(spec.executionId);
      };
      const execution = new LocalExecution(spec, {
        runtime,
        confinement: confine(spec.executionId),
        heartbeatIntervalMs,
        outputKillFactor,
        log,
        spawner,
        beforeStart,
      });
      return runs.track(spec.executionId, execution, () => execution.promise, observer);
    },

    async destroy(executionId) {
      if (!isSafeExecutionId(executionId)) return false;
      const current = runs.get(executionId);
      if (!current) {
        await ready;
        const killed = (await cgroups?.destroyRun(executionId)) ?? false;
        if (killed) log?.info('run of another worker process destroyed', { executionId });
        return killed;
      }
      const killed = current.execution.kill('killed');
      // Wait for the kill to land and the cgroup to go. A failed start is the run caller's to
      // handle (its promise rejects); for destroy it only means there was nothing to kill.
      await current.promise.catch(() => undefined);
      return killed;
    },

    active() {
      return runs.ids();
    },

    async close() {
      await launchers?.close();
      await spawner.close();
      // The owner dirs go now rather than at the next worker's sweep; best effort, nothing depends on it.
      await cgroups?.release().catch((err: unknown) => log?.warn('removing the runner\'s cgroup dirs failed', { err: String(err) }));
    },
  };
}

interface ProbeInput {
  tools: SandboxTools;
  hostUser: { uid: number; gid: number } | null;
  seccompFilter: Buffer;
  scratchBytes: number;
  runsCpuWeight: number;
}

/**
 * Refuses rather than pretends: runs `/usr/bin/true` exactly as a script would run (cgroups joined,
 * uid dropped, namespaces, seccomp filter) and throws with the reason when anything fails.
 * Synchronous, once at start. Returns the worker's cgroup tree and a promise of the sweep of a dead
 * worker's leftovers (the number of runs killed).
 */
function probeSandbox(input: ProbeInput): { cgroups: CgroupTree; ready: Promise<number> } {
  const refuse = (reason: string): never => {
    throw new Error(`the local runner cannot sandbox scripts here: ${reason}. Fix it, or set RUNNER_SANDBOX=none to run scripts UNSANDBOXED`);
  };
  if (process.platform !== 'linux') refuse(`${process.platform} is not Linux`);
  // The seccomp filter is written for x86_64 syscall numbers.
  if (process.arch !== 'x64') refuse(`the seccomp filter is for x86_64, this is ${process.arch}`);
  for (const [name, path] of Object.entries(input.tools)) {
    if (!isExecutable(path)) refuse(`${name} is not executable at ${path}${name === 'bwrap' ? ' (install bubblewrap)' : ''}`);
  }
  let cgroups: CgroupTree | undefined;
  let probeCgroup: RunCgroup | undefined;
  // A runner refused after this point leaves nothing: neither its probe's cgroup nor, with no other runner in this
  // process, the process's own dirs.
  const abandon = (): void => {
    void Promise.resolve(probeCgroup?.destroy())
      .then(() => cgroups?.release())
      .catch(() => undefined);
  };
  try {
    cgroups = new CgroupTree(detectCgroupLayout());
    cgroups.prepare(input.runsCpuWeight);
    probeCgroup = cgroups.create();
    probeCgroup.limit({ memoryBytes: 64 * 1024 * 1024, maxTasks: 16 });
  } catch (err) {
    abandon();
    return refuse(`cgroups: ${err instanceof Error ? err.message : String(err)}`);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'eo-probe-'));
  try {
    writeFileSync(join(scratch, 'seccomp'), input.seccompFilter);
    const seccompFd = openSync(join(scratch, 'seccomp'), 'r');
    const statusFd = openSync(join(scratch, 'status'), 'w');
    // The launcher a run uses, its start order read from a file instead of the worker's socket.
    const command = buildLauncherCommand({ tools: input.tools, cgroupProcs: probeCgroup.procsFiles, hostUser: input.hostUser });
    const start = buildSandboxStart({
      tools: input.tools,
      limits: { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryMb: 64, maxOutputBytes: 0, maxProcesses: 8, maxFileSizeBytes: 1 << 20 },
      scratchBytes: input.scratchBytes,
      argv: ['/usr/bin/true'],
      env: {},
      scriptName: null,
    });
    writeFileSync(join(scratch, 'start'), Buffer.concat([Buffer.from(start.shellLine), start.bwrapArgs]));
    const startFd = openSync(join(scratch, 'start'), 'r');
    const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore'];
    stdio[SECCOMP_FD] = seccompFd;
    stdio[STATUS_FD] = statusFd;
    stdio[START_FD] = startFd;
    const probe = spawnSync(command.file, command.args, { env: {}, stdio, timeout: 10_000, encoding: 'utf8' });
    closeSync(seccompFd);
    closeSync(statusFd);
    closeSync(startFd);
    const status = readFileSync(join(scratch, 'status'), 'utf8');
    if (probe.status !== 0 || !/"exit-code": 0/.test(status)) {
      refuse(`the probe run failed (exit ${probe.status ?? probe.signal}): ${`${probe.stderr ?? ''}`.trim() || probe.error?.message || 'no message'}`);
    }
  } catch (err) {
    abandon();
    throw err;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const ready = probeCgroup.destroy().then(() => cgroups.sweep());
  return { cgroups, ready };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false; // absent or not executable: the caller decides whether that is fatal
  }
}
