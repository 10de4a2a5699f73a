import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { extname, join } from 'node:path';
import { fulfilledWithin } from '../../fulfilled-within';
import { projectRoot } from '../../project-root';
import type { RunnerLog } from '../runner';
import type { SpawnReply, SpawnRequest } from './spawner-protocol';

/** A process started by the spawner host. */
export interface LaunchedProcess {
  pid: number;
  /** The worker's end of each of the process's stdio socket pairs, by fd. */
  stdio: Socket[];
  /** The exit as Node reports it (code, or the signal that ended it). Rejects if the host died first: the process's fate is then unknown. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** From now on the process holds the worker open until it exits (what a launch without `idle` does from the start). */
  hold(): void;
}

export interface Spawner {
  /** Starts `file args` in its own session and process group, with `stdio` socket pairs as fds 0…stdio-1. @throws when it could not start (the host's error: ENOENT, EACCES…) */
  launch(command: { file: string; args: string[] }, options: LaunchOptions): Promise<LaunchedProcess>;
  /** Ends the host (a run in flight learns from `exited`) and waits up to 2 s for it to exit; the next launch starts another. */
  close(): Promise<void>;
}

export interface LaunchOptions {
  cwd: string | undefined;
  env: Record<string, string>;
  stdio: number;
  executionId?: string;
  /** A process that waits to be given its work (a prepared launcher): it holds the worker open only once `hold()` is called. */
  idle?: boolean;
}

/** A host with nothing in flight for this long exits; the next launch starts it again (~100 ms). */
const HOST_IDLE_MS = 30_000;
/** How long close() waits for the host to exit (it exits as soon as its channel closes). */
const HOST_EXIT_WAIT_MS = 2_000;

interface InFlight {
  host: ChildProcess;
  /** Whose run it is, for the host's warnings. */
  executionId: string | undefined;
  stdioCount: number;
  /** Whether this process keeps the worker's event loop alive (false for an idle launcher until it is held). */
  holdsOpen: boolean;
  pid: number | null;
  stdio: Socket[];
  received: number;
  launched: { resolve(p: LaunchedProcess): void; reject(err: Error): void };
  exit: { resolve(v: [number | null, NodeJS.Signals | null]): void; reject(err: Error): void };
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Where the host's entry is: beside this module, as .ts under tsx/jest or .js in dist/. */
function hostEntry(): { entry: string; execArgv: string[] } {
  const ext = extname(__filename);
  return { entry: join(__dirname, `spawner-host${ext}`), execArgv: ext === '.ts' ? ['--import', 'tsx'] : [] };
}

/**
 * Spawns the runs from a small helper process (spawner-host.ts) instead of the worker itself: a fork
 * copies the forking process's page tables, which blocks a worker of 500 MB for ~50 ms per run and
 * a 40 MB host for ~4 ms, off the worker's event loop. The host starts on the first launch and exits
 * when idle, or with the worker.
 *
 * `hostCgroupProcs`: a `cgroup.procs` the host joins as soon as it is forked, before it is sent anything,
 * so every run it forks is born in that cgroup (the runs' CPU weight, cgroup.ts `cpuWeight`).
 */
export function createSpawner(log?: RunnerLog, hostCgroupProcs: string | null = null): Spawner {
  let host: ChildProcess | null = null;
  let nextId = 1;
  const inFlight = new Map<number, InFlight>();
  let idleTimer: NodeJS.Timeout | undefined;

  const retire = () => {
    host?.disconnect(); // the host exits on disconnect
    host = null;
  };
  // While a run is in flight its replies must arrive; an idle host, or one with idle launchers only, never holds the worker open.
  const refreshHold = () => {
    if ([...inFlight.values()].some((run) => run.holdsOpen)) host?.channel?.ref();
    else host?.channel?.unref();
  };
  const settle = (id: number) => {
    inFlight.delete(id);
    refreshHold();
    if (inFlight.size === 0 && host) idleTimer = setTimeout(retire, HOST_IDLE_MS).unref();
  };
  const hold = (id: number) => {
    const run = inFlight.get(id);
    if (!run || run.holdsOpen) return;
    run.holdsOpen = true;
    refreshHold();
  };

  const onReply = (message: SpawnReply, handle: unknown) => {
    // The host sends the raw pipe handle; net.Socket takes it over as it does a child's stdio.
    const socket = handle ? new Socket({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]) : undefined;
    const run = inFlight.get(message.id);
    if (!run) {
      socket?.destroy();
      return;
    }
    switch (message.kind) {
      case 'spawned':
        run.pid = message.pid;
        break;
      case 'stdio':
        run.stdio[message.fd] = socket!;
        run.received += 1;
        if (run.received === run.stdioCount) run.launched.resolve({ pid: run.pid!, stdio: run.stdio, exited: run.exited, hold: () => hold(message.id) });
        break;
      case 'exited':
        run.exit.resolve([message.code, message.signal]);
        settle(message.id);
        break;
      case 'failed': {
        const err = Object.assign(new Error(`spawn ${message.message}`), { code: message.code });
        run.launched.reject(err);
        settle(message.id);
        break;
      }
      case 'warning':
        log?.warn('run process error', { executionId: run.executionId, pid: run.pid, err: message.message });
        break;
    }
  };

  const startHost = (): ChildProcess => {
    const { entry, execArgv } = hostEntry();
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // the worker's (a profiler, a heap size) are not the host's
    const child = fork(entry, [], { cwd: projectRoot(), execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    if (hostCgroupProcs !== null && child.pid !== undefined) {
      try {
        writeFileSync(hostCgroupProcs, String(child.pid));
      } catch (err) {
        // Runs still start and keep every limit; they only compete for the CPU at the service's weight.
        log?.warn('spawner host could not join the runs\' cpu cgroup', { cgroup: hostCgroupProcs, err: String(err) });
      }
    }
    child.on('message', onReply);
    child.on('error', (err) => log?.warn('spawner host error', { err: String(err) }));
    child.once('exit', (code, signal) => {
      if (host === child) host = null;
      const exited = `the spawner host exited (${signal ?? `code ${code}`})`;
      for (const [id, run] of inFlight) {
        if (run.host !== child) continue;
        if (run.received < run.stdioCount) run.launched.reject(new Error(`${exited} before the process started`));
        else run.exit.reject(new Error(`${exited} with the process still running`));
        settle(id);
      }
      if (code !== 0) log?.warn('spawner host exited', { code, signal });
    });
    return child;
  };

  return {
    launch(command, options) {
      clearTimeout(idleTimer);
      host ??= startHost();
      const id = nextId++;
      let launched!: InFlight['launched'];
      let exit!: InFlight['exit'];
      const started = new Promise<LaunchedProcess>((resolve, reject) => (launched = { resolve, reject }));
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => (exit = { resolve, reject }));
      exited.catch(() => undefined); // the caller reads it once started; until then a rejection is not unhandled
      inFlight.set(id, { host, executionId: options.executionId, stdioCount: options.stdio, holdsOpen: !options.idle, pid: null, stdio: [], received: 0, launched, exit, exited });
      refreshHold();
      const request: SpawnRequest = { id, file: command.file, args: command.args, cwd: options.cwd, env: options.env, stdio: options.stdio };
      host.send(request);
      return started;
    },
    async close() {
      clearTimeout(idleTimer);
      const closing = host;
      retire();
      if (closing === null || closing.exitCode !== null || closing.signalCode !== null) return;
      const exited = await fulfilledWithin(once(closing, 'exit'), HOST_EXIT_WAIT_MS).catch(() => false);
      if (!exited) log?.warn('the spawner host did not exit in time', { pid: closing.pid });
    },
  };
}
