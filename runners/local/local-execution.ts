import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { access, constants as fsConstants, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { RunObserver, RunResult, RunSpec, RunTermination, RunnerLog } from '../runner';
import { classifyTermination } from './classify';
import { CappedOutput } from './capped-output';
import { SCRIPT_FILE, buildCommand, cpuLimitSeconds } from './command';
import { armDeadline } from './deadline';
import { killGroup, readStat, sampleTree, type TreeSample } from './proc';
import { parseTimeReport } from './time-report';

/** How long to wait, after the group is killed, for the output pipes to drain and close. */
const STDIO_GRACE_MS = 2000;

/** The PATH a script sees; nothing else of the worker's environment is passed on. */
const CHILD_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface ExecutionSettings {
  runDir: string;
  metaDir: string;
  interpreter: string;
  prlimitPath: string;
  timePath: string | null;
  /** The timeout wrapper that kills the group past the wall limit if no worker does; null for none. */
  backstop: { timeoutPath: string; graceMs: number } | null;
  /** unshare, when the run gets an empty network namespace. */
  netnsUnsharePath: string | null;
  applyProcessLimit: boolean;
  heartbeatIntervalMs: number;
  outputKillFactor: number;
  log: RunnerLog | undefined;
  /** Awaited before anything is spawned (the runner kills a group left by an earlier worker process). */
  beforeStart?: () => Promise<unknown>;
}

/** What `destroy` needs to find an execution's process group after a worker restart. */
export interface PidRecord {
  pid: number;
  startTime: number;
}

export function pidRecordFile(metaDir: string, executionId: string): string {
  return join(metaDir, `${executionId}.json`);
}

export function timeReportFile(metaDir: string, executionId: string): string {
  return join(metaDir, `${executionId}.rusage`);
}

interface Holder {
  observer: RunObserver | undefined;
  onAbort: (() => void) | undefined;
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * One execution: temp dir, child process group, timers, output, measurement, clean-up.
 *
 * Callers attach as holders. A holder whose abort signal fires lets go; when the last holder
 * lets go the group is killed (`killed`). A holder without a signal never lets go. So a retried
 * activity attempt that attaches keeps the run alive even if the previous attempt is cancelled.
 */
export class LocalExecution {
  readonly promise: Promise<RunResult>;
  private readonly holders = new Set<Holder>();
  private pid: number | null = null;
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
   * Kills the process group, remembering why (the first reason wins). Returns true if a live
   * process was signalled, or the run was stopped before it spawned.
   */
  kill(reason: RunTermination): boolean {
    if (this.exited) return false;
    this.killReason ??= reason;
    if (this.pid === null) return true;
    this.sample(); // last look at CPU and memory: a killed process takes its counters with it
    try {
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

  private sample(): void {
    if (this.pid === null) return;
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
    const reportFile = timeReportFile(settings.metaDir, executionId);
    try {
      try {
        await access(settings.interpreter, fsConstants.X_OK);
      } catch (err) {
        throw new Error(`${spec.language} interpreter is not executable at ${settings.interpreter}`, { cause: err });
      }
      await settings.beforeStart?.();
      await this.prepare(reportFile);
      if (this.killReason) return this.notStarted(this.killReason);
      const result = await this.supervise(reportFile);
      settings.log?.info('run finished', {
        executionId,
        termination: result.termination,
        exitCode: result.exitCode,
        signal: result.signal,
        wallTimeMs: result.wallTimeMs,
        cpuTimeMs: result.cpuTimeMs,
        peakMemoryKb: result.peakMemoryKb,
      });
      return result;
    } finally {
      this.exited = true;
      for (const holder of this.holders) {
        if (holder.onAbort) holder.observer?.signal?.removeEventListener('abort', holder.onAbort);
      }
      await this.cleanUp(reportFile);
    }
  }

  /** A fresh, private run dir holding only the script; a leftover from a crash is replaced. */
  private async prepare(reportFile: string): Promise<void> {
    const { runDir, metaDir } = this.settings;
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await mkdir(metaDir, { recursive: true, mode: 0o700 });
    await writeFile(join(runDir, SCRIPT_FILE[this.spec.language]), this.spec.script, { mode: 0o600 });
    await rm(reportFile, { force: true });
  }

  private async supervise(reportFile: string): Promise<RunResult> {
    const { spec, settings } = this;
    const { limits, executionId } = spec;
    const command = buildCommand({
      language: spec.language,
      limits,
      interpreter: settings.interpreter,
      prlimitPath: settings.prlimitPath,
      time: settings.timePath ? { path: settings.timePath, reportFile } : null,
      backstop: settings.backstop ? { path: settings.backstop.timeoutPath, afterMs: limits.wallTimeMs + settings.backstop.graceMs } : null,
      netnsUnsharePath: settings.netnsUnsharePath,
      applyProcessLimit: settings.applyProcessLimit,
    });

    const stdout = new CappedOutput(limits.maxOutputBytes);
    const stderr = new CappedOutput(limits.maxOutputBytes);
    const outputKillBytes = settings.outputKillFactor * limits.maxOutputBytes;

    const startedAt = new Date();
    const t0 = performance.now();
    const child: Child = spawn(command.file, command.args, {
      cwd: settings.runDir,
      env: { PATH: CHILD_PATH, HOME: settings.runDir, TMPDIR: settings.runDir, LANG: 'C.UTF-8' },
      detached: true, // own session and process group, so the whole tree can be killed at once
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.pid = child.pid ?? null; // undefined when the spawn failed; 'error' follows
    // Plain listeners, not events.once: that would also reject on 'error' and leave an
    // unhandled rejection behind when the spawn itself fails.
    const exit = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (code, signal) => resolve([code, signal]));
    });
    const closed = (stream: Readable) => new Promise<void>((resolve) => stream.once('close', () => resolve()));
    const outputClosed = Promise.all([closed(child.stdout), closed(child.stderr)]);
    // Listen before any await: on exit, Node resumes unread stdio pipes, dropping their data.
    const collect = (output: CappedOutput) => (chunk: Buffer) => {
      output.push(chunk);
      if (this.killReason === null && stdout.totalBytes + stderr.totalBytes > outputKillBytes) this.kill('output_limit');
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    // EPIPE when the script exits without reading its input: expected, nothing to report.
    child.stdin.on('error', () => undefined);
    child.stdin.end(spec.stdin ?? '');

    try {
      await once(child, 'spawn');
    } catch (err) {
      throw new Error(`could not start the ${spec.language} run`, { cause: err });
    }
    // Errors after spawn (a failed kill) are logged; the exit event still ends the run.
    child.on('error', (err) => settings.log?.warn('run process error', { executionId, err: String(err) }));
    const pid = this.pid;
    if (pid === null) throw new Error(`the ${spec.language} run has no pid`);
    settings.log?.info('run started', { executionId, language: spec.language, pid });

    const wallDeadline = armDeadline(t0, limits.wallTimeMs, () => this.kill('wall_timeout'));
    const heartbeatTimer = setInterval(() => {
      this.sample();
      this.heartbeat({ elapsedMs: Math.round(performance.now() - t0), pid });
    }, settings.heartbeatIntervalMs);
    let reaped = false;
    try {
      await this.recordPid(pid);

      const [code, signal] = await exit;
      reaped = true;
      const wallTimeMs = Math.round(performance.now() - t0);
      const finishedAt = new Date();
      this.exited = true;
      wallDeadline.clear();
      clearInterval(heartbeatTimer);

      // The script is done; anything it left behind in its group goes now. Once only: the
      // leader is reaped, so the longer we wait the likelier the pid is reused by a stranger.
      this.killStragglers(pid);
      await this.drain(child, outputClosed);

      const report = settings.timePath ? parseTimeReport(await readFile(reportFile, 'utf8').catch(() => '')) : null;
      const exitCode = report ? report.exitCode : code;
      const exitSignal = report ? report.signal : signal;
      const cpuTimeMs = maxOrNull(report?.cpuTimeMs, this.usage?.cpuTimeMs);
      const peakMemoryKb = maxOrNull(report?.peakMemoryKb, this.usage?.peakMemoryKb);
      const termination = classifyTermination({
        language: spec.language,
        killReason: this.killReason,
        exitCode,
        signal: exitSignal,
        cpuTimeMs,
        cpuLimitMs: cpuLimitSeconds(limits) * 1000,
        stderrTail: stderr.tail(),
        wallTimeMs,
        wallLimitMs: limits.wallTimeMs,
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
        peakMemoryKb: peakMemoryKb === 0 ? null : peakMemoryKb,
        startedAt,
        finishedAt,
      };
    } finally {
      wallDeadline.clear();
      clearInterval(heartbeatTimer);
      this.exited = true;
      if (!reaped) this.killStragglers(pid); // bailing out early: never leave the group running
    }
  }

  private killStragglers(pid: number): void {
    try {
      killGroup(pid);
    } catch (err) {
      this.settings.log?.warn('run kill failed', { executionId: this.spec.executionId, pid, err: String(err) });
    }
  }

  /**
   * Waits for the output pipes to close. A process that left the group (setsid) can hold them
   * open forever; after the grace period the pipes are torn down and that is reported.
   */
  private async drain(child: Child, closed: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STDIO_GRACE_MS);
    });
    const gaveUp = await Promise.race([closed.then(() => false), timedOut]);
    clearTimeout(timer);
    if (gaveUp) {
      this.settings.log?.warn('output pipes held open after exit', { executionId: this.spec.executionId });
      child.stdout.destroy();
      child.stderr.destroy();
    }
  }

  private async recordPid(pid: number): Promise<void> {
    const stat = readStat(pid);
    if (!stat) return; // already gone: nothing a later destroy could find
    const record: PidRecord = { pid, startTime: stat.startTime };
    try {
      await writeFile(pidRecordFile(this.settings.metaDir, this.spec.executionId), JSON.stringify(record), { mode: 0o600 });
    } catch (err) {
      // Only a destroy after a worker restart needs this file; the run itself goes on.
      this.settings.log?.warn('run pid record not written', { executionId: this.spec.executionId, err: String(err) });
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
      startedAt: now,
      finishedAt: now,
    };
  }

  private async cleanUp(reportFile: string): Promise<void> {
    const { runDir, metaDir } = this.settings;
    const paths = [runDir, reportFile, pidRecordFile(metaDir, this.spec.executionId)];
    for (const path of paths) {
      try {
        await rm(path, { recursive: true, force: true });
      } catch (err) {
        // The result stands; a leftover dir is reported so that someone can clear it.
        this.settings.log?.warn('run clean-up failed', { executionId: this.spec.executionId, path, err: String(err) });
      }
    }
  }
}

function maxOrNull(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined && b === undefined) return null;
  return Math.max(a ?? 0, b ?? 0);
}
