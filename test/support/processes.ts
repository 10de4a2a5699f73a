import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { detectCgroupLayout } from '../../runners/local/cgroup';

/**
 * Pids of the live processes of a run: those its cgroup lists (`.../eo-<worker>/r-<tag>-<n>` in every hierarchy, the
 * run whose unified dir holds the mark `e-<executionId>`). A process cannot leave its cgroup, so this finds every
 * process the run ever started that is still alive, `setsid` double forks included; and the runner removes the
 * mark only once no process is left in the run. The kernel's list, not a scan of /proc: a killed process still
 * names its cgroup in /proc while it exits, after the cgroup has let it go.
 */
export function pidsOfRun(executionId: string): number[] {
  const layout = detectCgroupLayout();
  const owns = [layout.memory, layout.pids, layout.unified].filter((dir): dir is string => dir !== null);
  const pids = new Set<number>();
  for (const dir of runDirsOf(executionId)) {
    const run = path.relative(layout.unified, dir);
    for (const own of owns) {
      let procs = '';
      try {
        procs = readFileSync(path.join(own, run, 'cgroup.procs'), 'utf8');
      } catch {
        continue; // removed while we looked: nothing left there
      }
      for (const pid of procs.split('\n').filter(Boolean).map(Number)) if (pid !== process.pid) pids.add(pid);
    }
  }
  return [...pids];
}

/** The unified-hierarchy dirs of the runs marked with this execution, under any worker of this cgroup. */
function runDirsOf(executionId: string): string[] {
  const unified = detectCgroupLayout().unified;
  const dirs: string[] = [];
  for (const owner of safeList(unified).filter((name) => name.startsWith('eo-'))) {
    for (const run of safeList(path.join(unified, owner)).filter((name) => name.startsWith('r-'))) {
      if (existsSync(path.join(unified, owner, run, `e-${executionId}`))) dirs.push(path.join(unified, owner, run));
    }
  }
  return dirs;
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
 * once. A run's cgroup dir is `<unified own>/eo-<worker pid>-<start>/r-<n>`, named by its mark `e-<executionId>`.
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
        const mark = safeList(path.join(unified, owner, run)).find((name) => name.startsWith('e-'));
        if (mark === undefined) continue; // a prepared launcher, no run yet
        const id = mark.slice(2);
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
