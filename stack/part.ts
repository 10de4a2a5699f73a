import path from 'node:path';
import { backCpuGroup, inBackGroup, leaveBackGroup } from './back-cpu-group';
import { withLock } from './lock';
import { tailLog } from './log-tail';
import { lockFile, logFile, PART_VARIABLES, pidFile, type StackPart } from './paths';
import {
  appendLogHeader,
  cleanUpStale,
  inspectPidFile,
  isAlive,
  removeFile,
  spawnDetached,
  stopGroup,
  writePidFile,
  type DetachedProcess,
  type SpawnOptions,
} from './process';
import { createProgress, type Progress } from './progress';
import { formatMs } from './wait';

// The lifecycle shared by every part (lock, pid file, stale cleanup, detached start,
// readiness with a deadline, polite stop); each part module only says what is specific.

export interface PartStatus {
  part: StackPart;
  running: boolean;
  healthy: boolean;
  endpoint: string;
  pid?: number;
  logFile: string;
}

export interface UpResult extends PartStatus {
  alreadyRunning: boolean;
  startedInMs: number;
}

export type Log = (line: string) => void;

export interface ReadyContext {
  /** Milliseconds left before the start deadline. */
  remainingMs(): number;
  /** Why waiting is pointless (the process exited), if it is. */
  giveUp(): string | undefined;
  log: Log;
}

export interface PartDefinition {
  part: StackPart;
  endpoint(): string;
  /** Part of the server's command line: tells our process from an unrelated one reusing the pid. */
  marker: string;
  startDeadlineMs: number;
  stopDeadlineMs: number;
  stopSignal: NodeJS.Signals;
  /** Signal only the leader, which shuts down its own children in order. */
  stopLeaderOnly?: boolean;
  /** Runs in the back's CPU group (stack/back-cpu-group.ts): it drains work, no submission waits on it. */
  inBack?: boolean;
  /** Builds, downloads, initialises what the server needs; cached, idempotent. Output goes to the log; slow steps report through `progress`. */
  prepare(log: Log, progress: Progress): Promise<void>;
  /** The server, run in the foreground (stack/process.ts detaches it). */
  serverCommand(): Omit<SpawnOptions, 'logFile'>;
  /** Waits until the server is usable, and finishes any setup that needs it running. Throws WaitError. */
  waitUntilReady(ctx: ReadyContext): Promise<void>;
  /** A quick health check: undefined when healthy, else what is wrong. */
  checkHealth(): Promise<string | undefined>;
  /** True if something listens on the part's port(s). */
  portInUse(): Promise<boolean>;
}

/** Long enough to cover another command building the Temporal CLI or downloading Kafka. */
const LOCK_DEADLINE_MS = 30 * 60_000;

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

function failure(def: PartDefinition, what: string, err: unknown, { withLog = true } = {}): Error {
  const reason = err instanceof Error ? err.message : String(err);
  const log = logFile(def.part);
  // Nothing of this run is in the log yet; an older run's last lines would only mislead.
  if (!withLog) return new Error(`${def.part}: ${what}: ${reason}`, { cause: err });
  return new Error(
    `${def.part}: ${what}: ${reason}\nlog: ${log}\n--- last lines of ${displayPath(log)} ---\n${tailLog(log, 20)}`,
    { cause: err },
  );
}

export async function statusOf(def: PartDefinition): Promise<PartStatus> {
  const state = inspectPidFile(pidFile(def.part), def.marker);
  const problem = await def.checkHealth();
  const base = { part: def.part, endpoint: def.endpoint(), logFile: logFile(def.part) };
  if (state.kind === 'running') return { ...base, running: true, healthy: problem === undefined, pid: state.pid };
  // Not started by us, but served by someone (e.g. another checkout's stack): usable, not ours to stop.
  if (problem === undefined) return { ...base, running: true, healthy: true };
  return { ...base, running: false, healthy: false };
}

export interface UpOptions {
  deadlineMs?: number;
  log?: Log;
  /** How slow first-time steps (builds, downloads, initdb) are shown. @default one line each through `log` */
  progress?: Progress;
  /**
   * Asked once the part's lock is held, before its pid file is read: a reason refuses the start. Under the lock, so
   * that a check of what runs cannot be overtaken by another command starting something meanwhile.
   */
  refusal?: () => string | undefined;
}

export async function up(def: PartDefinition, opts: UpOptions = {}): Promise<UpResult> {
  const startedAt = Date.now();
  const log: Log = opts.log ?? (() => undefined);
  const progress = opts.progress ?? createProgress({ say: log });
  const deadlineMs = opts.deadlineMs ?? def.startDeadlineMs;
  const result = (alreadyRunning: boolean, pid: number | undefined): UpResult => ({
    part: def.part,
    running: true,
    healthy: true,
    endpoint: def.endpoint(),
    logFile: logFile(def.part),
    ...(pid === undefined ? {} : { pid }),
    alreadyRunning,
    startedInMs: Date.now() - startedAt,
  });

  return withLock(lockFile(def.part), LOCK_DEADLINE_MS, async () => {
    const refused = opts.refusal?.();
    if (refused !== undefined) throw new Error(refused);
    const pids = pidFile(def.part);
    const state = inspectPidFile(pids, def.marker);

    if (state.kind === 'running') {
      if ((await def.checkHealth()) === undefined) return result(true, state.pid);
      log(`running as pid ${state.pid} but not healthy yet; waiting`);
      const gone = (): string | undefined => (isAlive(state.pid) ? undefined : `pid ${state.pid} exited`);
      try {
        await waitReady(def, deadlineMs, gone, log);
      } catch (err) {
        throw failure(def, `running as pid ${state.pid} but not healthy (deadline ${formatMs(deadlineMs)})`, err);
      }
      return result(true, state.pid);
    }
    if (state.kind === 'stale') {
      log(`removing stale pid file (pid ${state.pid} is gone)`);
      await cleanUpStale(pids, state.pid);
    }
    if (await def.portInUse()) {
      if ((await def.checkHealth()) === undefined) {
        log(`${def.endpoint()} is already served by a process this stack did not start; using it`);
        return result(true, undefined);
      }
      const { ports, endpoint } = PART_VARIABLES[def.part];
      const taken = new Error(
        `a port of ${def.endpoint()} is taken by a program that is not a healthy ${def.part}: stop it, move the local ${def.part} with ${ports.join(' / ')}, or set ${endpoint} to a server of your own`,
      );
      throw failure(def, 'cannot start', taken, { withLog: false });
    }

    appendLogHeader(logFile(def.part), 'preparing');
    try {
      await def.prepare(log, progress);
    } catch (err) {
      throw failure(def, 'preparing failed', err);
    }

    const command = serverCommandOf(def, log);
    log(`starting: ${command.command} ${command.args.join(' ')}`);
    let child: DetachedProcess;
    try {
      child = spawnDetached({ ...command, logFile: logFile(def.part) });
    } catch (err) {
      throw failure(def, 'could not start', err);
    }
    writePidFile(pids, child.pid);
    try {
      await waitReady(def, deadlineMs, child.exitReason, log);
    } catch (err) {
      const stop = { signal: def.stopSignal, leaderOnly: def.stopLeaderOnly, deadlineMs: 5000 };
      await stopGroup(child.pid, stop).catch(() => undefined);
      removeFile(pids);
      throw failure(def, `did not start (deadline ${formatMs(deadlineMs)})`, err);
    }
    return result(false, child.pid);
  });
}

/** The part's command, run in the back's CPU group when it is a back part and the group can be made. */
function serverCommandOf(def: PartDefinition, log: Log): Omit<SpawnOptions, 'logFile'> {
  const command = def.serverCommand();
  if (!def.inBack) return command;
  const group = backCpuGroup();
  if (!group.made) {
    log(`at the front's CPU weight: ${group.why}`);
    return command;
  }
  log(`in the back's CPU group ${group.dir} (weight ${group.weight})`);
  return { ...command, ...inBackGroup(group, def.part, command.command, command.args) };
}

async function waitReady(
  def: PartDefinition,
  deadlineMs: number,
  giveUp: () => string | undefined,
  log: Log,
): Promise<void> {
  const deadlineAt = Date.now() + deadlineMs;
  await def.waitUntilReady({ remainingMs: () => Math.max(0, deadlineAt - Date.now()), giveUp, log });
}

export async function down(def: PartDefinition, opts: { deadlineMs?: number } = {}): Promise<void> {
  await withLock(lockFile(def.part), LOCK_DEADLINE_MS, async () => {
    const pids = pidFile(def.part);
    const state = inspectPidFile(pids, def.marker);
    if (state.kind === 'none') return;
    if (state.kind === 'stale') {
      await cleanUpStale(pids, state.pid);
      if (def.inBack) await leaveBackGroup(def.part);
      return;
    }
    appendLogHeader(logFile(def.part), `stopping pid ${state.pid} with ${def.stopSignal}`);
    const { forced } = await stopGroup(state.pid, {
      signal: def.stopSignal,
      leaderOnly: def.stopLeaderOnly,
      deadlineMs: opts.deadlineMs ?? def.stopDeadlineMs,
    });
    if (forced) appendLogHeader(logFile(def.part), `pid ${state.pid} did not stop in time; killed with SIGKILL`);
    removeFile(pids);
    if (def.inBack) await leaveBackGroup(def.part);
  });
}
