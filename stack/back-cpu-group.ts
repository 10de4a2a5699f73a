import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SAGA_START } from '../config';
import { detectCgroupLayout, listDirs, removeDir, v1CpuShares } from '../runners/local/cgroup';

/**
 * The back yields the CPU to the front.
 *
 * On a machine the runs keep busy, what answers a submission (the API, Redis, Postgres, Temporal taking the
 * start) competes with what drains the work (the worker and its runs, the relay, Kafka). Per thread, the back
 * wins the tail: it has many threads ready at once, the front one or two, and a POST waits on four or five
 * wake-ups. So the back's processes share one CPU group of low weight (`EO_BACK_CPU_WEIGHT`, cgroup v2's scale;
 * an ordinary process weighs 100). That is a share under contention, not a limit: an idle machine is all the
 * back's, and a fair share of the front's idle time is what the back drains the queue with. On Kubernetes a
 * pod's CPU weight follows its CPU request: the same is the API's request well above the back's pods'.
 *
 * Temporal is in the back when no submission waits on its start (SAGA_START=deferred, the default), and in the
 * front when every one does (SAGA_START=inline): see {@link temporalInBack}. Best effort: where no group can be
 * made (no cpu controller, a cgroup v2 dir holding processes, not root), every process keeps its own weight and
 * {@link backCpuGroup} says why.
 *
 * Layout: `<own cpu cgroup>/eo-back/<member>`, one leaf per member, so that on cgroup v2 a worker can take its
 * leaf's controllers for its runs (runners/local/cgroup.ts) without another member in the way.
 */

export const BACK_GROUP_DIR = 'eo-back';

/** Ten: under contention the back, all of it, gets a tenth of what one ordinary process of the front would. */
export const DEFAULT_BACK_CPU_WEIGHT = 10;

export type BackCpuGroup = { made: true; dir: string; weight: number } | { made: false; why: string };

/** `EO_BACK_CPU_WEIGHT`: 1–10000, or `off`. @throws Error naming the variable when it is neither. */
export function backCpuWeight(env: NodeJS.ProcessEnv = process.env): number | 'off' {
  const value = env.EO_BACK_CPU_WEIGHT;
  if (value === undefined || value === '') return DEFAULT_BACK_CPU_WEIGHT;
  if (value === 'off') return 'off';
  const weight = Number(value);
  if (!Number.isInteger(weight) || weight < 1 || weight > 10_000) {
    throw new Error(`EO_BACK_CPU_WEIGHT must be an integer from 1 to 10000, or off (got ${JSON.stringify(value)})`);
  }
  return weight;
}

/**
 * Whether the stack's Temporal server runs in the back: only when the API starts sagas after it answers
 * (SAGA_START=deferred, the default; read by the stack from the same environment as the API's). With inline
 * starts every POST waits on Temporal taking the start, and a Temporal at the back's weight made them 85–141 ms
 * at p99 against 28–39 ms for deferred ones (dev server, 8 clients). A stack already up keeps its Temporal where
 * it started.
 */
export function temporalInBack(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.SAGA_START || DEFAULT_SAGA_START) === 'deferred';
}

/**
 * Makes (or finds) the back's group under this process's own cpu cgroup and sets its weight. Idempotent: every
 * part and bench process that joins calls it.
 */
export function backCpuGroup(weight: number | 'off' = backCpuWeight()): BackCpuGroup {
  if (weight === 'off') return { made: false, why: 'EO_BACK_CPU_WEIGHT=off' };
  try {
    const layout = detectCgroupLayout();
    if (layout.cpu === null) return { made: false, why: 'no cpu cgroup controller' };
    const dir = join(layout.cpu, BACK_GROUP_DIR);
    if (layout.kind === 'v2') {
      // A v2 dir may enable controllers for its children only if it holds no process itself (the root may).
      enableControllers(layout.cpu, ['cpu']);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cpu.weight'), String(weight));
      // memory and pids too, so that a worker in a leaf can limit its runs.
      enableControllers(dir, ['cpu', 'memory', 'pids']);
    } else {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cpu.shares'), String(v1CpuShares(weight)));
    }
    return { made: true, dir, weight };
  } catch (err) {
    return { made: false, why: err instanceof Error ? err.message : String(err) };
  }
}

function enableControllers(dir: string, wanted: string[]): void {
  const available = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/);
  const enabled = readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
  const missing = wanted.filter((controller) => available.includes(controller) && !enabled.includes(controller));
  if (missing.length === 0) return;
  try {
    writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((controller) => `+${controller}`).join(' '));
  } catch (err) {
    const busy = (err as NodeJS.ErrnoException).code === 'EBUSY';
    throw new Error(busy ? `${dir} holds processes, so cgroup v2 lets no CPU group be made under it` : `cannot enable ${missing.join(', ')} in ${dir}: ${(err as Error).message}`);
  }
}

/**
 * `command args` run in the back's group as `member`: a shell joins the member's leaf, then execs the command,
 * so the process is in the group before its first instruction and keeps its pid (pid files and stops are
 * unchanged). Unchanged when there is no group.
 */
export function inBackGroup(group: BackCpuGroup, member: string, command: string, args: string[]): { command: string; args: string[] } {
  if (!group.made) return { command, args };
  if (!/^[a-z][a-z0-9-]*$/.test(member)) throw new Error(`back group member ${JSON.stringify(member)}: lowercase letters, digits and dashes only`);
  const leaf = join(group.dir, member);
  mkdirSync(leaf, { recursive: true });
  // A failed join is said in the process's log, and it runs anyway, at the front's weight.
  return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0/cgroup.procs"; exec "$@"', leaf, command, ...args] };
}

/**
 * Removes `member`'s leaf if no dir of a worker's runs is left in it, then the group if empty. A leaf still busy is
 * tried again for a moment (runners/local/cgroup.ts's `removeDir`): a part counts as stopped once its leader is a
 * zombie (stack/process.ts), while its other threads may still be leaving the leaf. `npm start`'s Ctrl-C left
 * `eo-back/kafka` behind that way.
 */
export async function leaveBackGroup(member: string): Promise<void> {
  let group: string;
  try {
    const { cpu } = detectCgroupLayout();
    if (cpu === null) return;
    group = join(cpu, BACK_GROUP_DIR);
  } catch {
    return; // no layout: no group was made
  }
  for (const dir of [join(group, member), group]) {
    if (listDirs(dir).length > 0) return;
    try {
      await removeDir(dir);
    } catch {
      return; // still busy: another process is in it (a member of another checkout's stack)
    }
  }
}
