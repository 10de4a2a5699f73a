import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { RunObserver, RunResult, RunSpec, RunTermination, RunnerLog } from '../runner';
import type { CgroupUsage, RunCgroup } from './cgroup';
import { classifyTermination } from './classify';
import { CappedOutput } from './capped-output';
import { armDeadline } from './deadline';
import { killGroup, sampleTree, type TreeSample } from './proc';
import { runtimeArgs, type DetectedRuntime } from './runtime-registry';
import { closeLauncher, type PreparedSandboxes, type SandboxSlot } from './prepared-sandboxes';
import {
  SCRIPT_FD,
  SECCOMP_FD,
  START_FD,
  STATUS_FD,
  buildDirectCommand,
  buildSandboxStart,
  cpuLimitSeconds,
  type Command,
  type SandboxStart,
  type SandboxTools,
} from './sandbox-command';
import { signalName } from './signals';
import type { LaunchedProcess, Spawner } from './spawner';
import { fulfilledWithin } from '../../fulfilled-within';

/** How long to wait, after the run is killed, for the output pipes to drain and close. */
const STDIO_GRACE_MS = 2000;

/** How often the run's total CPU time is checked against its limit, ms. */
const CPU_WATCH_INTERVAL_MS = 50;

/**
 * Tasks of bwrap itself in a run's pids budget: the outer bwrap and its pid 1 in the sandbox. They
 * come on top of the script's `maxProcesses`.
 */
const BWRAP_TASKS = 2;

/** How a run is confined: the sandbox (bwrap + a cgroup), or nothing but rlimits (`RUNNER_SANDBOX=none`). */
export type Confinement =
  | {
      kind: 'bwrap';
      /** Where the run's launcher comes from, already in its cgroups or started on demand. */
      launchers: PreparedSandboxes;
      tools: SandboxTools;
      seccompFilter: Buffer;
      scratchBytes: number;
    }
  | {
      kind: 'none';
      /** `<workDir>/<executionId>`: the run's private dir on the host. */
      runDir: string;
      prlimit: string;
      applyProcessLimit: boolean;
    };

export interface ExecutionSettings {
  runtime: DetectedRuntime;
  confinement: Confinement;
  heartbeatIntervalMs: number;
  outputKillFactor: number;
  log: RunnerLog | undefined;
  /** Starts the run's process (from the spawner host, off the worker's event loop). */
  spawner: Spawner;
  /** Awaited before anything is spawned (the runner kills a run of this id left by another worker process). */
  beforeStart?: () => Promise<unknown>;
}

/**
 * A run ready to start. Sandboxed: a launcher in the run's cgroups, limited and named, and its start order.
 * Unsandboxed: the command, and the run's private dir holding the script.
 */
type PreparedRun =
  | { kind: 'bwrap'; confinement: Extract<Confinement, { kind: 'bwrap' }>; slot: SandboxSlot; start: SandboxStart }
  | { kind: 'none'; command: Command; cwd: string; env: Record<string, string> };

interface Holder {
  observer: RunObserver | undefined;
  onAbort: (() => void) | undefined;
}

/** What bwrap's `--json-status-fd` reported. */
interface SandboxStatus {
  childStarted: boolean;
  exitCode: number | null;
}

/**
 * One execution: spawn, timers, kill, output, measurement, result, clean-up.
 *
 * Callers attach as holders. A holder whose abort signal fires lets go; when the last holder
 * lets go the run is killed (`killed`). A holder without a signal never lets go. So a retried
 * activity attempt that attaches keeps the run alive even if the previous attempt is cancelled.
 */
export class LocalExecution {
  readonly promise: Promise<RunResult>;
  private readonly holders = new Set<Holder>();
  private pid: number | null = null;
  private cgroup: RunCgroup | null = null;
  /** The sandboxed run's launcher while it has not been sent its start order (cleanUp closes it then). */
  private waitingLauncher: SandboxSlot | null = null;
  private exited = false;
  private killReason: RunTermination | null = null;
  private usage: TreeSample | null = null;

  constructor(
    private readonly spec: RunSpec,
    private readonly settings: ExecutionSettings,
  ) {
    this.promise = this.execute();
  }

  attach(observer: RunObserver | undefined): void {
    const holder: Holder = { observer, onAbort: undefined };
    this.holders.add(holder);
    const signal = observer?.signal;
    if (!signal) return;
    if (signal.aborted) {
      this.release(holder);
      return;
    }
    holder.onAbort = () => this.release(holder);
    signal.addEventListener('abort', holder.onAbort, { once: true });
  }

  /**
   * Kills every process of the run, remembering why (the first reason wins). Returns true if a live
   * process was signalled, or the run was stopped before it spawned.
   */
  kill(reason: RunTermination): boolean {
    if (this.exited) return false;
    this.killReason ??= reason;
    if (this.pid === null) return true;
    try {
      if (this.cgroup) return this.cgroup.kill();
      this.sample(); // last look at CPU and memory: a killed process takes its counters with it
      return killGroup(this.pid);
    } catch (err) {
      this.settings.log?.warn('run kill failed', { executionId: this.spec.executionId, pid: this.pid, err: String(err) });
      return false;
    }
  }

  private release(holder: Holder): void {
    if (holder.onAbort) holder.observer?.signal?.removeEventListener('abort', holder.onAbort);
    this.holders.delete(holder);
    if (this.holders.size === 0) this.kill('killed');
  }

  private heartbeat(info: { elapsedMs: number; pid: number }): void {
    for (const { observer } of this.holders) {
      try {
        observer?.onHeartbeat?.(info);
      } catch (err) {
        // An observer's bug must not take the run down; it is reported instead.
        this.settings.log?.warn('heartbeat observer threw', { executionId: this.spec.executionId, err: String(err) });
      }
    }
  }

  /** Unsandboxed runs only: a /proc sample of the process tree (a cgroup measures sandboxed ones). */
  private sample(): void {
    if (this.pid === null || this.cgroup) return;
    const now = sampleTree(this.pid);
    if (!now) return;
    this.usage = {
      cpuTimeMs: Math.max(now.cpuTimeMs, this.usage?.cpuTimeMs ?? 0),
      peakMemoryKb: Math.max(now.peakMemoryKb, this.usage?.peakMemoryKb ?? 0),
    };
  }

  private async execute(): Promise<RunResult> {
    const { spec, settings } = this;
    const { executionId } = spec;
    try {
      await settings.beforeStart?.();
      if (this.killReason) return this.notStarted(this.killReason);
      const result = await this.supervise();
      settings.log?.info('run finished', {
        executionId,
        termination: result.termination,
        exitCode: result.exitCode,
        signal: result.signal,
        wallTimeMs: result.wallTimeMs,
        cpuTimeMs: result.cpuTimeMs,
        peakMemoryKb: result.peakMemoryKb,
        oomKilled: result.oomKilled,
        sandboxed: result.sandboxed,
      });
      return result;
    } finally {
      this.exited = true;
      for (const holder of this.holders) {
        if (holder.onAbort) holder.observer?.signal?.removeEventListener('abort', holder.onAbort);
      }
      await this.cleanUp();
    }
  }

  private async prepare(): Promise<PreparedRun> {
    const { spec, settings } = this;
    const { runtime, confinement } = settings;
    const argv = [runtime.interpreter, ...runtimeArgs(runtime, spec.limits.memoryMb)];
    if (confinement.kind === 'bwrap') {
      const start = buildSandboxStart({
        tools: confinement.tools,
        limits: spec.limits,
        scratchBytes: confinement.scratchBytes,
        argv,
        env: runtime.definition.env,
        scriptName: runtime.fileName,
      });
      const slot = confinement.launchers.take();
      this.waitingLauncher = slot;
      this.cgroup = slot.cgroup;
      this.cgroup.limit({ memoryBytes: spec.limits.memoryMb * 1024 * 1024, maxTasks: spec.limits.maxProcesses + BWRAP_TASKS });
      this.cgroup.mark(spec.executionId);
      return { kind: 'bwrap', confinement, slot, start };
    }
    const { runDir } = confinement;
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await writeFile(join(runDir, runtime.fileName), spec.script, { mode: 0o600 });
    const command = buildDirectCommand({
      prlimit: confinement.prlimit,
      limits: spec.limits,
      argv,
      applyProcessLimit: confinement.applyProcessLimit,
      limitAddressSpace: runtime.definition.addressSpaceLimit,
    });
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: runDir, TMPDIR: runDir, LANG: 'C.UTF-8', ...runtime.definition.env };
    return { kind: 'none', command, cwd: runDir, env };
  }

  /** The run's process: the launcher, or the unsandboxed command spawned now. */
  private launch(prepared: PreparedRun): Promise<LaunchedProcess> {
    if (prepared.kind === 'bwrap') return prepared.slot.launched;
    const { command, cwd, env } = prepared;
    return this.settings.spawner.launch(command, { cwd, env, stdio: 3, executionId: this.spec.executionId });
  }

  private async supervise(): Promise<RunResult> {
    const { spec, settings } = this;
    const { limits, executionId } = spec;
    const sandboxed = settings.confinement.kind === 'bwrap';
    const prepared = await this.prepare();
    // Killed while preparing (destroy, or every holder aborted): nothing may start after that.
    if (this.killReason) return this.notStarted(this.killReason);

    const stdout = new CappedOutput(limits.maxOutputBytes);
    const stderr = new CappedOutput(limits.maxOutputBytes);
    const outputKillBytes = settings.outputKillFactor * limits.maxOutputBytes;

    let launched: LaunchedProcess;
    try {
      launched = await this.launch(prepared);
    } catch (err) {
      throw new Error(`could not start the ${spec.language} run`, { cause: err });
    }
    launched.hold();
    const startedAt = new Date();
    const t0 = performance.now();
    const { pid, stdio, exited: exit } = launched;
    this.pid = pid;
    // Killed while the host was starting it: the kill had no pid to reach then.
    if (this.killReason !== null) this.kill(this.killReason);
    const [childStdin, childStdout, childStderr] = stdio as [Socket, Socket, Socket];
    const closed = (stream: Readable) => new Promise<void>((resolve) => stream.once('close', () => resolve()));
    const streams = [childStdout, childStderr];
    let statusText = '';
    if (prepared.kind === 'bwrap') {
      const status = stdio[STATUS_FD]!;
      status.on('data', (chunk: Buffer) => (statusText += chunk.toString('utf8')));
      streams.push(status);
      // A launcher killed before its order, or still joining its cgroups (cgroup.kill missed it), reads none and exits.
      const order = this.killReason === null ? [Buffer.from(prepared.start.shellLine), prepared.start.bwrapArgs] : [];
      this.waitingLauncher = null;
      // bwrap reads each to its end before it starts the script.
      const inputs = [[START_FD, Buffer.concat(order)], [SECCOMP_FD, prepared.confinement.seccompFilter], [SCRIPT_FD, Buffer.from(spec.script)]] as const;
      for (const [fd, data] of inputs) {
        const pipe = stdio[fd]!;
        pipe.on('error', () => undefined); // bwrap failed before reading: its exit says why
        pipe.end(data);
      }
      // The next launcher is prepared while this run goes: its cgroup joins then wait beside this run, not
      // before the next one (see prepared-sandboxes.ts).
      prepared.confinement.launchers.fill();
    }
    const outputClosed = Promise.all(streams.map(closed));
    const collect = (output: CappedOutput) => (chunk: Buffer) => {
      output.push(chunk);
      if (this.killReason === null && stdout.totalBytes + stderr.totalBytes > outputKillBytes) this.kill('output_limit');
    };
    childStdout.on('data', collect(stdout));
    childStderr.on('data', collect(stderr));
    // EPIPE when the script exits without reading its input: expected, nothing to report.
    childStdin.on('error', () => undefined);
    childStdin.end(spec.stdin ?? '');
    settings.log?.info('run started', { executionId, language: spec.language, pid, sandboxed });

    const wallDeadline = armDeadline(t0, limits.wallTimeMs, () => this.kill('wall_timeout'));
    // RLIMIT_CPU counts per process; the cgroup counts the run's processes together.
    const cpuWatch = this.cgroup
      ? setInterval(() => {
          const cpuUs = this.cgroup?.cpuTimeUs() ?? null;
          if (cpuUs !== null && cpuUs >= limits.cpuTimeMs * 1000) this.kill('cpu_limit');
        }, CPU_WATCH_INTERVAL_MS)
      : undefined;
    const heartbeatTimer = setInterval(() => {
      this.sample();
      this.heartbeat({ elapsedMs: Math.round(performance.now() - t0), pid });
    }, settings.heartbeatIntervalMs);
    let reaped = false;
    try {
      const [code, signal] = await exit;
      reaped = true;
      const wallTimeMs = Math.round(performance.now() - t0);
      const finishedAt = new Date();
      this.exited = true;
      wallDeadline.clear();
      clearInterval(cpuWatch);
      clearInterval(heartbeatTimer);

      // Read before the kill: the counters go with the cgroup.
      const cgroupUsage = this.cgroup?.usage() ?? null;
      await this.killStragglers(pid);
      await this.drain(streams, outputClosed);

      const status = sandboxed ? parseStatus(statusText) : null;
      // A bwrap that failed exits with a code; one ended by a signal before its child started was killed from
      // outside (another worker's destroy of this execution, the OOM killer): the run ends as killed, not failed.
      if (status && !status.childStarted && this.killReason === null && signal === null) {
        throw new Error(`the sandbox did not start (bwrap exit ${code ?? signal}): ${stderr.tail().trim()}`);
      }
      const { exitCode, signal: exitSignal } = status?.exitCode != null ? fromShellStatus(status.exitCode) : { exitCode: code, signal };
      const { cpuTimeMs, peakMemoryKb } = measured(cgroupUsage, this.usage);
      const termination = classifyTermination({
        language: spec.language,
        killReason: this.killReason,
        exitCode,
        signal: exitSignal,
        cpuTimeMs,
        cpuLimitMs: cpuLimitSeconds(limits) * 1000,
        stderrTail: stderr.tail(),
        oomKills: cgroupUsage?.oomKills ?? 0,
        pidsRefused: cgroupUsage?.pidsRefused ?? 0,
      });
      return {
        termination,
        exitCode,
        signal: exitSignal,
        stdout: stdout.text(),
        stdoutTruncated: stdout.truncated,
        stderr: stderr.text(),
        stderrTruncated: stderr.truncated,
        wallTimeMs,
        cpuTimeMs,
        peakMemoryKb,
        oomKilled: (cgroupUsage?.oomKills ?? 0) > 0,
        sandboxed,
        startedAt,
        finishedAt,
      };
    } finally {
      wallDeadline.clear();
      clearInterval(cpuWatch);
      clearInterval(heartbeatTimer);
      this.exited = true;
      if (!reaped) await this.killStragglers(pid); // bailing out early: never leave the run going
    }
  }

  /**
   * Whatever the script left behind goes now. In the sandbox the pid namespace's end has killed it
   * already; the cgroup kill is the backstop (and covers a run whose bwrap was killed first).
   */
  private async killStragglers(pid: number): Promise<void> {
    try {
      if (this.cgroup) await this.cgroup.killAll();
      else killGroup(pid); // once only: the leader is reaped, its pid may be reused
    } catch (err) {
      this.settings.log?.warn('run kill failed', { executionId: this.spec.executionId, pid, err: String(err) });
    }
  }

  /**
   * Waits for the output pipes to close. Unsandboxed, a process that left the group (setsid) can hold
   * them open forever; after the grace period the pipes are torn down and that is reported.
   */
  private async drain(streams: Readable[], closed: Promise<unknown>): Promise<void> {
    if (!(await fulfilledWithin(closed, STDIO_GRACE_MS))) {
      this.settings.log?.warn('output pipes held open after exit', { executionId: this.spec.executionId });
      for (const stream of streams) stream.destroy();
    }
  }

  private notStarted(termination: RunTermination): RunResult {
    const now = new Date();
    return {
      termination,
      exitCode: null,
      signal: null,
      stdout: '',
      stdoutTruncated: false,
      stderr: '',
      stderrTruncated: false,
      wallTimeMs: 0,
      cpuTimeMs: null,
      peakMemoryKb: null,
      oomKilled: false,
      sandboxed: this.settings.confinement.kind === 'bwrap',
      startedAt: now,
      finishedAt: now,
    };
  }

  private async cleanUp(): Promise<void> {
    const { confinement } = this.settings;
    try {
      if (this.waitingLauncher) await closeLauncher(this.waitingLauncher);
      if (this.cgroup) {
        await this.cgroup.killAll();
        // Not awaited: the run's processes are gone, and an rmdir may wait ~10 ms on another launcher's cgroup join.
        this.cgroup.remove().catch((err: unknown) => this.cleanUpFailed(err));
      }
      if (confinement.kind === 'none') await rm(confinement.runDir, { recursive: true, force: true });
    } catch (err) {
      this.cleanUpFailed(err);
    }
  }

  /** The result stands; a leftover cgroup or dir is reported so that someone can clear it (the next start sweeps cgroups). */
  private cleanUpFailed(err: unknown): void {
    this.settings.log?.warn('run clean-up failed', { executionId: this.spec.executionId, err: String(err) });
  }
}

/** bwrap's status JSON documents, one per line: `{"child-pid": …}` once started, `{"exit-code": N}` at the end. */
function parseStatus(text: string): SandboxStatus {
  const status: SandboxStatus = { childStarted: false, exitCode: null };
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const doc = JSON.parse(line) as Record<string, unknown>;
      if (typeof doc['child-pid'] === 'number') status.childStarted = true;
      if (typeof doc['exit-code'] === 'number') status.exitCode = doc['exit-code'];
    } catch {
      // a torn document from a killed bwrap: what was complete still counts
    }
  }
  return status;
}

/**
 * bwrap reports a script killed by signal N as exit code 128 + N, the shell's convention. Read back
 * that way, a script that itself exits with 129–192 is reported as killed by a signal.
 */
function fromShellStatus(status: number): { exitCode: number | null; signal: string | null } {
  if (status > 128 && status <= 128 + 64) return { exitCode: null, signal: signalName(status - 128) };
  return { exitCode: status, signal: null };
}

function measured(cgroup: CgroupUsage | null, sample: TreeSample | null): { cpuTimeMs: number | null; peakMemoryKb: number | null } {
  if (cgroup) {
    return {
      cpuTimeMs: cgroup.cpuTimeUs === null ? null : Math.round(cgroup.cpuTimeUs / 1000),
      peakMemoryKb: cgroup.peakMemoryBytes === null ? null : Math.round(cgroup.peakMemoryBytes / 1024),
    };
  }
  return { cpuTimeMs: sample?.cpuTimeMs ?? null, peakMemoryKb: sample?.peakMemoryKb ? sample.peakMemoryKb : null };
}
