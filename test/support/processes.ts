import { readdirSync, readFileSync } from 'node:fs';

/**
 * Pids of the live processes of a run: those in its cgroup (`.../r-<executionId>` in any hierarchy).
 * A process cannot leave its cgroup, so this finds every process the run ever started that is still
 * alive, `setsid` double forks included, even after the runner removed the cgroup's dir (a dir with a
 * live process in it cannot be removed).
 */
export function pidsOfRun(executionId: string): number[] {
  const suffix = `/r-${executionId}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const inRun = readFileSync(`/proc/${entry}/cgroup`, 'utf8')
        .split('\n')
        .some((line) => line.endsWith(suffix));
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (inRun && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked: it does not count.
    }
  }
  return pids;
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
