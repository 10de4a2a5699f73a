import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

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

/**
 * Watches the runs on this host through their cgroups (sampled every `intervalMs`): for each execution
 * id, the worker processes it was seen running under, and whether it was ever running under two at
 * once. A run's cgroup dir is `<unified own>/eo-<worker pid>-<start>/r-<executionId>`.
 */
export function watchRuns(unified: string, intervalMs = 20): { stop(): void; seenUnder(id: string): Set<string>; concurrent: Set<string> } {
  const seen = new Map<string, Set<string>>();
  const concurrent = new Set<string>();
  const timer = setInterval(() => {
    const running = new Map<string, number>();
    for (const owner of safeList(unified).filter((name) => name.startsWith('eo-'))) {
      for (const run of safeList(path.join(unified, owner)).filter((name) => name.startsWith('r-'))) {
        let events = '';
        try {
          events = readFileSync(path.join(unified, owner, run, 'cgroup.events'), 'utf8');
        } catch {
          continue; // removed while we looked: that run is over
        }
        if (!/^populated 1$/m.test(events)) continue;
        const id = run.slice(2);
        running.set(id, (running.get(id) ?? 0) + 1);
        if (!seen.has(id)) seen.set(id, new Set());
        seen.get(id)!.add(owner);
      }
    }
    for (const [id, count] of running) if (count > 1) concurrent.add(id);
  }, intervalMs);
  return {
    stop: () => clearInterval(timer),
    seenUnder: (id) => seen.get(id) ?? new Set(),
    concurrent,
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return []; // gone meanwhile
  }
}
