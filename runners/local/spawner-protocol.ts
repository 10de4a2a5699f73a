/** The messages between the worker's spawner (spawner.ts) and the spawner host (spawner-host.ts). */

/** Start a process: its stdio are `stdio` socket pairs, fds 0 to stdio-1. */
export interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  stdio: number;
}

export type SpawnReply =
  | { id: number; kind: 'spawned'; pid: number }
  /** Carries the worker's end of the process's fd `fd` as its handle. */
  | { id: number; kind: 'stdio'; fd: number }
  | { id: number; kind: 'exited'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; kind: 'failed'; message: string; code: string | undefined }
  /** A process error after the spawn (a failed signal); the exit still follows. */
  | { id: number; kind: 'warning'; message: string };
