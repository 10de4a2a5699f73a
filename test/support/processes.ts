import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Pids of live processes whose working directory is `dir` or below it (a run's script and all its children). */
export function pidsWorkingIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if ((cwd === dir || cwd.startsWith(`${dir}/`)) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked: it does not count.
    }
  }
  return pids;
}
