import { copyFileSync, chmodSync, linkSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DetectedRuntime } from './runtime-registry';

/** Where interpreters the sandbox could not reach are linked (or copied) to: searchable by every uid. */
export const REACHABLE_RUNTIMES_DIR = join(tmpdir(), 'eo-runtimes');

/**
 * bwrap runs as an unprivileged host uid when the worker is root, and opens the interpreter it binds as that uid.
 * The service's own node lives in its checkout: under `/root` or a 0700 `mktemp -d` that uid cannot reach it,
 * and every node run would fail. Such an interpreter is hard-linked (copied across file systems) once into
 * {@link REACHABLE_RUNTIMES_DIR}; one the uid can reach is used where it is.
 */
export function reachableInterpreter(runtime: DetectedRuntime, hostUser: { uid: number; gid: number }): DetectedRuntime {
  if (canExecute(runtime.interpreter, hostUser)) return runtime;
  mkdirSync(REACHABLE_RUNTIMES_DIR, { recursive: true, mode: 0o755 });
  chmodSync(REACHABLE_RUNTIMES_DIR, 0o755);
  const source = statSync(runtime.interpreter);
  const tag = createHash('sha256').update(`${runtime.interpreter}:${source.ino}:${source.size}:${source.mtimeMs}`).digest('hex').slice(0, 12);
  const target = join(REACHABLE_RUNTIMES_DIR, `${runtime.language}-${runtime.version}-${tag}`);
  if (!exists(target)) {
    const staging = `${target}.${process.pid}.tmp`;
    try {
      linkSync(runtime.interpreter, staging);
    } catch {
      copyFileSync(runtime.interpreter, staging); // another file system (EXDEV), or links refused
    }
    chmodSync(staging, 0o755);
    renameSync(staging, target);
  }
  return { ...runtime, interpreter: target };
}

/** Whether `uid`/`gid` (no supplementary groups: the sandbox's host user has none) may search every parent and execute the file. */
function canExecute(file: string, user: { uid: number; gid: number }): boolean {
  const allowed = (path: string, bit: number) => {
    const st = statSync(path);
    if (st.uid === user.uid) return (st.mode & (bit << 6)) !== 0;
    if (st.gid === user.gid) return (st.mode & (bit << 3)) !== 0;
    return (st.mode & bit) !== 0;
  };
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (!allowed(dir, 0o1)) return false;
    if (dir === dirname(dir)) break;
  }
  return allowed(file, 0o1) && allowed(file, 0o4);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false; // not staged yet
  }
}
