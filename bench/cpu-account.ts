import fs from 'node:fs';
import { allProcStats } from '../stack/process';

/**
 * Where a cell's CPU went, read from /proc before and after it: the machine's busy time, and each process's
 * own time plus that of the children it reaped (a sandboxed run is counted to the worker that spawned it).
 * Named processes take their descendants; every other process is grouped by command (postgres, temporal,
 * java for Kafka, kernel threads); what is left is processes that came and went unreaped by any of them, and
 * interrupts.
 */

interface ProcessCpu {
  command: string;
  ppid: number;
  /** Own plus reaped children's, ms. */
  ms: number;
}

export interface CpuSnapshot {
  machineMs: number;
  byPid: Map<number, ProcessCpu>;
}

/** Busy CPU time of the whole machine, ms, from /proc/stat. */
export function machineCpuMs(): number {
  const [user, nice, system, , , irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100;
}

export function cpuSnapshot(): CpuSnapshot {
  const byPid = new Map<number, ProcessCpu>();
  for (const [pid, stat] of allProcStats()) byPid.set(pid, { command: stat.command, ppid: stat.ppid, ms: stat.cpuMs + stat.childrenCpuMs });
  return { machineMs: machineCpuMs(), byPid };
}

/** Kernel threads are many (kworker/0:1-events, ksoftirqd/1, …): one group. */
const commandGroup = (command: string): string => (/^(kworker|ksoftirqd|kthreadd|rcu_|migration|idle_inject|cpuhp|irq\/|jbd2|kcompactd)/.test(command) ? 'kernel threads' : command);

/**
 * CPU ms per unit of work (an execution, a POST) between two snapshots, by process: `named` maps a name to a
 * pid (api, worker, …), whose descendants count to it; the bench's own process is `bench client`, alone (the
 * stack it started is grouped by command). Sorted largest first; includes `machine` (the total) and `other`
 * (the machine's time no process accounts for).
 */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number, named: Record<string, number | undefined>): Record<string, number> {
  const nameOfPid = new Map<number, string>();
  for (const [name, pid] of Object.entries(named)) if (pid !== undefined) nameOfPid.set(pid, name);
  const owner = (pid: number): string => {
    if (pid === process.pid) return 'bench client';
    // Orphans are reaped by init, and their CPU joins its children's: a sandboxed run's inner bwrap is one.
    if (pid === 1) return 'pid 1 (reaped orphans)';
    for (let p = pid, hops = 0; p > 1 && p !== process.pid && hops < 64; hops++) {
      const name = nameOfPid.get(p);
      if (name) return name;
      p = after.byPid.get(p)?.ppid ?? 0;
    }
    return commandGroup(after.byPid.get(pid)!.command);
  };
  const totals = new Map<string, number>();
  for (const [pid, now] of after.byPid) {
    const ms = now.ms - (before.byPid.get(pid)?.ms ?? 0);
    if (ms <= 0) continue;
    const name = owner(pid);
    totals.set(name, (totals.get(name) ?? 0) + ms);
  }
  const machineMs = after.machineMs - before.machineMs;
  const accounted = [...totals.values()].reduce((a, b) => a + b, 0);
  const perUnit = (ms: number) => Math.round((ms / units) * 10) / 10;
  const rows = [...totals].map(([name, ms]) => [name, perUnit(ms)] as const).filter(([, ms]) => ms >= 0.1).sort((a, b) => b[1] - a[1]);
  return { machine: perUnit(machineMs), ...Object.fromEntries(rows), other: perUnit(Math.max(0, machineMs - accounted)) };
}

/** How long {@link waitForQuiet} waited, and how busy the machine was over its last second (cores). */
export interface Quiet {
  waitedMs: number;
  busyCores: number;
}

/**
 * Waits until the machine has been quiet for a second (fewer than `cores` busy), at most `deadlineMs`: work
 * the sections before left behind (Postgres's autovacuum after thousands of inserts, the Temporal server's
 * timers) must not land in a fixed-rate measurement of something else. Resolves either way, with what it saw.
 */
export async function waitForQuiet(cores = 0.3, deadlineMs = 30_000): Promise<Quiet> {
  const started = performance.now();
  for (;;) {
    const before = machineCpuMs();
    await new Promise((r) => setTimeout(r, 1_000));
    const busyCores = (machineCpuMs() - before) / 1_000;
    const waitedMs = Math.round(performance.now() - started);
    if (busyCores < cores || waitedMs >= deadlineMs) return { waitedMs, busyCores: Math.round(busyCores * 100) / 100 };
  }
}
