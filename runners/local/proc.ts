import { readdirSync, readFileSync } from 'node:fs';

/**
 * Linux /proc readers: a worker's identity (pid + start time) for its cgroup dir, and best-effort
 * measurement of unsandboxed runs (`RUNNER_SANDBOX=none`), which have no cgroup. Synchronous on
 * purpose: /proc files are generated in memory and a sample reads a few of them, which is cheaper
 * than the promise machinery around async reads.
 */

/** USER_HZ: the unit of /proc/<pid>/stat times. 100 on every mainstream Linux architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  state: string;
  pgrp: number;
  /** Own CPU time plus that of reaped children, ms. */
  cpuTimeMs: number;
  /** Start time since boot, clock ticks: with the pid, identifies a process across pid reuse. */
  startTime: number;
}

export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // the process is gone (or never was): a normal outcome when sampling
  }
  // comm (field 2) may contain spaces and parentheses; everything after the last ')' is fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(fields[n - 3]);
  return {
    state: fields[0] ?? '?',
    pgrp: field(5),
    cpuTimeMs: ((field(14) + field(15) + field(16) + field(17)) * 1000) / CLOCK_TICKS_PER_SECOND,
    startTime: field(22),
  };
}

/** Peak resident set size (VmHWM), KiB; null for a zombie or a vanished process. */
export function readPeakRssKb(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null; // vanished between listing and reading
  }
}

/** Direct children of every thread of `pid` (needs CONFIG_PROC_CHILDREN; empty without it). */
export function childrenOf(pid: number): number[] {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // vanished
  }
  const children: number[] = [];
  for (const tid of threads) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const child of text.split(' ')) children.push(Number(child));
    } catch {
      // thread ended, or the kernel lacks the children file: measure what we can see
    }
  }
  return children;
}

export interface TreeSample {
  /** Summed CPU time of the tree (live processes plus their reaped children), ms. */
  cpuTimeMs: number;
  /** Largest VmHWM in the tree, KiB — comparable to GNU time's max RSS. */
  peakMemoryKb: number;
}

/** Walks the process tree under `rootPid`; null when the root is already gone. */
export function sampleTree(rootPid: number): TreeSample | null {
  if (!readStat(rootPid)) return null;
  let cpuTimeMs = 0;
  let peakMemoryKb = 0;
  const pending = [rootPid];
  const seen = new Set<number>();
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = readStat(pid);
    if (!stat) continue;
    cpuTimeMs += stat.cpuTimeMs;
    peakMemoryKb = Math.max(peakMemoryKb, readPeakRssKb(pid) ?? 0);
    pending.push(...childrenOf(pid));
  }
  return { cpuTimeMs: Math.round(cpuTimeMs), peakMemoryKb };
}

/**
 * SIGKILLs the process group `pgid`. Returns false when no process is left in it (ESRCH).
 * Anything else (EPERM) is thrown: it means the runner cannot enforce its limits.
 */
export function killGroup(pgid: number): boolean {
  // kill(-1) would signal every process we may signal; kill(-0) our own group.
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`refusing to kill process group ${pgid}`);
  try {
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
