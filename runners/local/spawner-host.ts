/**
 * The spawner host: a small process that forks the runs on the worker's behalf (see spawner.ts).
 *
 * Forking copies the parent's page tables, so a spawn from the worker (hundreds of MB, Temporal's
 * workflow contexts) blocks its event loop for ~50 ms; from this process (~40 MB) it takes a few.
 * Each run's stdio sockets go back to the worker over the IPC channel, so output never passes
 * through here. Imports nothing but Node: it must stay small.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { SpawnReply, SpawnRequest } from './spawner-protocol';

/** libuv's pipe handle under a net.Socket (Node's `net.Native` kind of IPC handle). */
interface PipeHandle {
  reading?: boolean;
  readStop(): number;
  close(): void;
}

function reply(message: SpawnReply, handle?: PipeHandle): void {
  if (!process.connected) {
    handle?.close();
    return;
  }
  // This copy of the fd closes once written to the channel; the worker holds the other.
  process.send!(message, handle as never, {}, () => handle?.close());
}

/**
 * Takes the fd's handle away from the ChildProcess's socket, before anything reads it: bytes read here
 * would be lost, and the ChildProcess would close its stdin on exit, maybe before the handle left.
 */
function detach(socket: Socket): PipeHandle {
  const owner = socket as unknown as { _handle: PipeHandle | null };
  const handle = owner._handle!;
  owner._handle = null;
  if (handle.reading) {
    handle.reading = false;
    handle.readStop();
  }
  return handle;
}

function launch(request: SpawnRequest): void {
  const { id } = request;
  let child;
  try {
    child = spawn(request.file, request.args, {
      cwd: request.cwd,
      env: request.env,
      detached: true, // own session and process group: nothing of the run shares the worker's terminal or group
      stdio: Array.from({ length: request.stdio }, () => 'pipe' as const),
    });
  } catch (err) {
    reply({ id, kind: 'failed', message: (err as Error).message, code: (err as NodeJS.ErrnoException).code });
    return;
  }
  const sockets = child.stdio as unknown as (Socket | null)[];
  if (child.pid === undefined) {
    child.once('error', (err: NodeJS.ErrnoException) => reply({ id, kind: 'failed', message: err.message, code: err.code }));
    for (const socket of sockets) socket?.destroy();
    return;
  }
  // Still synchronous with spawn(): nothing of the run's output has been read yet.
  const handles = sockets.map((socket) => detach(socket!));
  child.once('exit', (code, signal) => reply({ id, kind: 'exited', code, signal }));
  child.on('error', (err) => reply({ id, kind: 'warning', message: err.message }));
  reply({ id, kind: 'spawned', pid: child.pid });
  // One handle per message; the channel keeps their order, and the exit report comes after them.
  handles.forEach((handle, fd) => reply({ id, kind: 'stdio', fd }, handle));
}

process.on('message', (message: SpawnRequest) => launch(message));
// The worker is gone: so are its runs (bwrap's --die-with-parent follows this process).
process.on('disconnect', () => process.exit(0));
// Node emits no 'disconnect' while a handle it sent waits for the worker's ack, which a worker that died never
// sends: then the host would outlive it. Not connected any more is enough.
setInterval(() => {
  if (!process.connected) process.exit(0);
}, 500).unref();
// Ctrl-C reaches the worker's whole process group, this host too; the worker then drains, and its runs (whose
// bwrap dies with this process) must go on meanwhile. The host ends with the worker's channel, not on a signal.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
