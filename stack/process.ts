import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { formatMs, waitFor } from './wait';

// Long-running parts are started detached (own session and process group, output to a
// log file, unref'd) so they outlive the command that started them; a pid file is what
// later commands use to find them again.

/** True if the pid exists at all, zombies included. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True if the process is running (exists and is not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  return pidExists(pid) && processState(pid) !== 'Z';
}

/** The one-letter state from /proc/<pid>/stat (R, S, Z, ...), or undefined if gone. */
function processState(pid: number): string | undefined {
  const stat = readProcStat(pid);
  return stat?.state;
}

/** What /proc/<pid>/stat says of a process. */
export interface ProcStat {
  command: string;
  state: string;
  ppid: number;
  pgid: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
  /** The same of the children it reaped (and of theirs), ms. */
  childrenCpuMs: number;
}

/** A process's /proc/<pid>/stat; undefined if gone. */
export function readProcStat(pid: number | string): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields after it don't.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime and cstime (fields 14–17) are in clock ticks, USER_HZ = 100 on Linux; the last two are
  // the reaped children's (and theirs, transitively).
  const ticksMs = (i: number) => (Number(fields[i]) * 1000) / 100;
  return {
    command: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    cpuMs: ticksMs(11) + ticksMs(12),
    childrenCpuMs: ticksMs(13) + ticksMs(14),
  };
}

/** Every process on the machine, by pid (one gone while read is left out). */
export function allProcStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(entry);
    if (stat) stats.set(Number(entry), stat);
  }
  return stats;
}

/** Live (non-zombie) processes of a process group. */
export function groupMembers(pgid: number): number[] {
  return [...allProcStats()].filter(([, stat]) => stat.pgid === pgid && stat.state !== 'Z').map(([pid]) => pid);
}

export function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

export function readPidFile(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  const pid = Number(text);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

export function writePidFile(file: string, pid: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${pid}\n`);
  fs.renameSync(tmp, file);
}

export function removeFile(file: string): void {
  fs.rmSync(file, { force: true });
}

export type PidFileState =
  | { kind: 'none' }
  | { kind: 'running'; pid: number }
  | { kind: 'stale'; pid: number };

/**
 * Reads a pid file and checks the process is still ours: alive, and its command line
 * contains `marker` (guards against the pid having been reused by something else).
 */
export function inspectPidFile(file: string, marker: string): PidFileState {
  const pid = readPidFile(file);
  if (pid === undefined) return { kind: 'none' };
  if (isAlive(pid) && (commandLine(pid) ?? '').includes(marker)) return { kind: 'running', pid };
  return { kind: 'stale', pid };
}

/**
 * Forgets a dead process: kills whatever is left of its process group (children that
 * outlived a kill -9 of the leader) and removes the pid file. If the pid now belongs to
 * another live process, the group is that process's, and is left alone.
 */
export async function cleanUpStale(file: string, pid: number): Promise<void> {
  if (!isAlive(pid) && groupMembers(pid).length > 0) {
    signalGroup(pid, 'SIGKILL');
    await waitFor('orphaned processes to exit', async () => groupMembers(pid).length === 0, {
      deadlineMs: 5000,
      intervalMs: 100,
    });
  }
  removeFile(file);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export interface StopOptions {
  /** The polite signal: SIGTERM for most servers, SIGINT for Postgres' "fast" shutdown. */
  signal: NodeJS.Signals;
  /** Send the polite signal to the leader only (it shuts its children down itself). */
  leaderOnly?: boolean;
  deadlineMs: number;
}

/** Stops a process group started by spawnDetached: polite signal, wait, then SIGKILL. */
export async function stopGroup(pid: number, opts: StopOptions): Promise<{ forced: boolean }> {
  const gone = async (): Promise<boolean> => !isAlive(pid) && groupMembers(pid).length === 0;
  if (await gone()) return { forced: false };
  if (opts.leaderOnly) signalProcess(pid, opts.signal);
  else signalGroup(pid, opts.signal);
  try {
    await waitFor(`pid ${pid} to exit`, gone, { deadlineMs: opts.deadlineMs, intervalMs: 100 });
    return { forced: false };
  } catch {
    signalGroup(pid, 'SIGKILL');
    signalProcess(pid, 'SIGKILL');
    await waitFor(`pid ${pid} to exit after SIGKILL`, gone, { deadlineMs: 10_000, intervalMs: 100 });
    return { forced: true };
  }
}

export interface SpawnOptions {
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

export interface DetachedProcess {
  pid: number;
  /** Why the process is no longer running, if it has stopped; undefined while it runs. */
  exitReason(): string | undefined;
}

export const RUN_MARKER = '=== stack:';

/** Appends a marker line, so failures can show only this run's part of the log. */
export function appendLogHeader(logFile: string, text: string): void {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  fs.appendFileSync(logFile, `${RUN_MARKER} ${new Date().toISOString()} ${text}\n`);
}

export function spawnDetached(opts: SpawnOptions): DetachedProcess {
  appendLogHeader(opts.logFile, `${opts.command} ${opts.args.join(' ')}`);
  const fd = fs.openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
      uid: opts.uid,
      gid: opts.gid,
    });
  } finally {
    fs.closeSync(fd);
  }
  let exitReason: string | undefined;
  child.on('error', (err) => {
    exitReason = `could not start ${opts.command}: ${err.message}`;
  });
  child.on('exit', (code, signal) => {
    exitReason = signal ? `process exited on ${signal}` : `process exited with code ${code}`;
  });
  child.unref();
  if (child.pid === undefined) {
    throw new Error(`could not start ${opts.command} (no pid); see ${opts.logFile}`);
  }
  return { pid: child.pid, exitReason: () => exitReason };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Also append the command's output to this file. */
  logFile?: string;
}

/** Runs a short command to completion, killing its process group if it overruns. */
export function runCommand(command: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${command}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (opts.logFile) {
        const output = `${stdout}${stderr}`;
        if (output) fs.appendFileSync(opts.logFile, output.endsWith('\n') ? output : `${output}\n`);
      }
      if (timedOut) {
        reject(new Error(`${command} ${args.join(' ')} did not finish within ${formatMs(opts.timeoutMs)}`));
      } else {
        resolve({ code, stdout, stderr });
      }
    });
  });
}

/** Like runCommand, but a non-zero exit is an error carrying the command's output. */
export async function runChecked(command: string, args: string[], opts: RunOptions): Promise<string> {
  const result = await runCommand(command, args, opts);
  if (result.code !== 0) {
    // Output that went to a log file shows in the failure's log tail; don't repeat it.
    const output = opts.logFile ? '' : `: ${`${result.stderr}${result.stdout}`.trim().split('\n').slice(-20).join('\n')}`;
    throw new Error(`${path.basename(command)} ${args.join(' ')} exited with code ${result.code}${output}`);
  }
  return result.stdout;
}
