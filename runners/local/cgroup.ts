import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { readStat } from './proc';

/**
 * Per-run cgroups: the run's memory (no swap) and pids limits, its peak memory, OOM kills and CPU
 * time, and a kill that reaches every process of the run (a `setsid` double fork included).
 *
 * Two layouts are supported:
 * - `v2`: one unified hierarchy with the memory and pids controllers;
 * - `hybrid`: cgroup v1 `memory` and `pids` hierarchies plus the unified hierarchy mounted at
 *   `/sys/fs/cgroup/unified` (systemd's hybrid mode). The unified dir holds no controller there but
 *   still has `cgroup.kill`, `cgroup.events` and `cpu.stat`, which is all the runner needs of it.
 * Pure v1 (no unified hierarchy, so no `cgroup.kill`) is refused.
 *
 * Everything lives under the worker's own cgroup (from /proc/self/cgroup), so it works under systemd
 * `Delegate=yes` and in a container with its own cgroup namespace. Each worker process owns one dir,
 * `eo-<pid>-<start time>`, with one `r-<tag>-<n>` per run, so that workers sharing a cgroup (tests, several workers
 * in one container) can tell their runs apart and sweep only a dead worker's. A run's dir is made before its
 * execution is known (a prepared launcher waits in it); once it is, an empty child `e-<executionId>` in the
 * unified hierarchy names it, so that any worker on the host can find that execution's run and kill it
 * (cgroup v2 cannot rename a dir; the child holds no process and no controller).
 */

/** The mount points of a layout, the worker's own cgroup in each, and which hierarchies runs use. */
export interface CgroupLayout {
  kind: 'v2' | 'hybrid';
  /** The worker's own cgroup dir in the unified hierarchy (kill, populated, cpu.stat; v2: everything). */
  unified: string;
  /** The worker's own cgroup dir in the v1 memory hierarchy; null on v2. */
  memory: string | null;
  /** The worker's own cgroup dir in the v1 pids hierarchy; null on v2. */
  pids: string | null;
  /**
   * Where the runs' CPU weight is set: the worker's own dir in the v1 `cpu` hierarchy (hybrid), the unified
   * dir (v2 with the cpu controller available), or null when there is no cpu controller to use.
   */
  cpu: string | null;
}

/** What a run's cgroup limits. */
export interface CgroupLimits {
  /** Memory, bytes; swap is not allowed on top. */
  memoryBytes: number;
  /** Tasks (processes and threads) at once. */
  maxTasks: number;
}

/** What a run's cgroup measured. */
export interface CgroupUsage {
  /** Peak memory charged to the run (RSS, page cache, tmpfs files, kernel memory), bytes; null if unknown. */
  peakMemoryBytes: number | null;
  /** Processes the kernel's OOM killer killed in the run. */
  oomKills: number;
  /** Forks and clones refused by the pids limit. */
  pidsRefused: number;
  /** CPU time of every process the run ever had, µs. */
  cpuTimeUs: number | null;
}

const ROOT = '/sys/fs/cgroup';
const OWNER_DIR = /^eo-(\d+)-(\d+)$/;
const RUN_PREFIX = 'r-';
const EXECUTION_MARK_PREFIX = 'e-';

/**
 * Finds the layout from /proc/self/cgroup and the mounts under /sys/fs/cgroup.
 * @throws Error saying why when the host has no layout the runner can use.
 */
export function detectCgroupLayout(procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8')): CgroupLayout {
  const paths = new Map<string, string>();
  for (const line of procSelfCgroup.trim().split('\n')) {
    const [, controllers = '', path = '/'] = line.split(':');
    for (const controller of controllers.split(',')) paths.set(controller, path);
  }
  const unifiedPath = paths.get('');
  if (unifiedPath === undefined) throw new Error('no cgroup v2 (unified) hierarchy: cgroup.kill is needed to kill a run whole');
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    const own = join(ROOT, unifiedPath);
    const available = readFileSync(join(own, 'cgroup.controllers'), 'utf8').split(/\s+/);
    for (const needed of ['memory', 'pids']) {
      if (!available.includes(needed)) throw new Error(`cgroup v2 controller "${needed}" is not available in ${own}`);
    }
    return { kind: 'v2', unified: own, memory: null, pids: null, cpu: available.includes('cpu') ? own : null };
  }
  const memoryPath = paths.get('memory');
  const pidsPath = paths.get('pids');
  const cpuPath = paths.get('cpu');
  if (!existsSync(join(ROOT, 'unified', 'cgroup.procs'))) throw new Error(`cgroup v1 only: no unified hierarchy at ${ROOT}/unified for cgroup.kill`);
  if (memoryPath === undefined || pidsPath === undefined) throw new Error('cgroup v1 memory or pids hierarchy missing');
  return {
    kind: 'hybrid',
    unified: join(ROOT, 'unified', unifiedPath),
    memory: join(ROOT, 'memory', memoryPath),
    pids: join(ROOT, 'pids', pidsPath),
    cpu: cpuPath !== undefined && existsSync(join(ROOT, 'cpu', 'cgroup.procs')) ? join(ROOT, 'cpu', cpuPath) : null,
  };
}

/**
 * Whether a process joins a cgroup promptly here: true when a cgroup hierarchy is mounted with `favordynmods`.
 *
 * A run's shell joins its cgroups by writing `cgroup.procs`, and each such move takes the kernel's cgroup
 * threadgroup lock for writing. Without `favordynmods` that first waits for an RCU grace period, unless another
 * move did so moments before: about 10 ms a run on a quiet host here, half of the runner's overhead over a
 * direct spawn (runners/README.md, **Start-up latency**). The option is a host setting (one hierarchy's suffices:
 * the lock is shared) that makes forks and exits a little dearer instead; the runner only reports it.
 */
export function cgroupMovesFavored(mounts = readFileSync('/proc/self/mounts', 'utf8')): boolean {
  return mounts.split('\n').some((line) => {
    const [, , type = '', options = ''] = line.split(' ');
    return (type === 'cgroup' || type === 'cgroup2') && options.split(',').includes('favordynmods');
  });
}

/** The hierarchies' own dirs a run has a dir in, unified last so that it is removed last. */
function hierarchies(layout: CgroupLayout): string[] {
  return [layout.memory, layout.pids, layout.unified].filter((dir): dir is string => dir !== null);
}

/** Every hierarchy a worker has an `eo-…` dir in: the runs' ones, and on hybrid the v1 cpu one (no run dirs). */
function ownerHierarchies(layout: CgroupLayout): string[] {
  const own = hierarchies(layout);
  return layout.kind === 'hybrid' && layout.cpu !== null ? [layout.cpu, ...own] : own;
}

/** The v2 leaf the spawner host sits in beside the runs (a dir with runs under it may hold no process). */
const SPAWNER_LEAF = 'spawner';

/** cgroup v2's default `cpu.weight`; v1's `cpu.shares` default is 1024 for the same share. */
const DEFAULT_CPU_WEIGHT = 100;

/** A cgroup v2 `cpu.weight` as v1 `cpu.shares` (relative to 1024; at least 2, v1's minimum). */
export function v1CpuShares(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / DEFAULT_CPU_WEIGHT));
}

/**
 * On v2 the memory and pids controllers must be enabled for the worker's children. A cgroup with
 * processes cannot do that ("no internal processes"), so when the worker's own cgroup holds processes
 * they are first moved into a `supervisor` leaf beside the runs (what container init scripts do).
 */
function delegateControllers(layout: CgroupLayout): void {
  if (layout.kind !== 'v2') return;
  const control = join(layout.unified, 'cgroup.subtree_control');
  const enabled = readFileSync(control, 'utf8').split(/\s+/);
  if (enabled.includes('memory') && enabled.includes('pids')) return;
  const procs = readFileSync(join(layout.unified, 'cgroup.procs'), 'utf8').trim();
  if (procs) {
    const leaf = join(layout.unified, 'supervisor');
    mkdirSync(leaf, { recursive: true });
    for (const pid of procs.split('\n')) {
      try {
        writeFileSync(join(leaf, 'cgroup.procs'), pid);
      } catch {
        // exited meanwhile, or a kernel thread: neither blocks enabling controllers
      }
    }
  }
  writeFileSync(control, '+memory +pids');
}

/**
 * Run dirs are `r-<tag>-<n>`, unique in the process: its trees share the process's owner dir (a test may hold two
 * local runners), and two runs in one dir would be killed and named as one. The counter is shared by the trees;
 * the tag tells apart copies of this module in one process (jest loads it once per test file).
 */
const RUN_TAG = randomBytes(4).toString('hex');
let nextRun = 1;

/** The trees of this process not released yet: the owner dir goes with the last ({@link CgroupTree.release}). */
const openTrees = new Set<CgroupTree>();

/** The cgroups of one worker process: created at start, one child per run. */
export class CgroupTree {
  private readonly ownerName: string;
  /**
   * The runs' CPU weight: set, with the `cgroup.procs` the spawner host joins so that every run it forks is born
   * under it without a migration of its own; or not set, and why.
   */
  cpuWeight: { set: true; spawnerProcsFile: string } | { set: false; why: string } = { set: false, why: 'not prepared' };

  constructor(readonly layout: CgroupLayout) {
    const self = readStat(process.pid);
    this.ownerName = `eo-${process.pid}-${self?.startTime ?? 0}`;
  }

  /**
   * Makes the worker's dir in every hierarchy (sweeping a dead worker's runs is {@link sweep}'s), then gives
   * all its runs together `runsCpuWeight` where a cpu controller is there to use (see {@link weighRuns}).
   * @throws Error when the hierarchy is not writable (no delegation, read-only cgroupfs).
   */
  prepare(runsCpuWeight: number): void {
    delegateControllers(this.layout);
    for (const own of hierarchies(this.layout)) {
      mkdirSync(join(own, this.ownerName), { recursive: true });
    }
    if (this.layout.kind === 'v2') writeFileSync(join(this.layout.unified, this.ownerName, 'cgroup.subtree_control'), '+memory +pids');
    openTrees.add(this);
    try {
      this.cpuWeight = { set: true, spawnerProcsFile: this.weighRuns(runsCpuWeight) };
    } catch (err) {
      this.cpuWeight = { set: false, why: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * All runs together get `weight` (cgroup v2's scale: 100 is one ordinary process's share) against the
   * service's own processes (API, worker, Temporal, Postgres): however many runs are busy, together they
   * weigh no more than that, and an idle machine is still all the runs'. Best effort: without a usable cpu
   * controller runs keep every limit and only compete for the CPU as ordinary processes. Returns the spawner
   * host's `cgroup.procs`.
   * @throws Error saying why the weight could not be set.
   */
  private weighRuns(weight: number): string {
    const { layout } = this;
    if (layout.cpu === null) throw new Error('no cpu cgroup controller');
    if (layout.kind === 'v2') {
      const owner = join(layout.unified, this.ownerName);
      writeFileSync(join(layout.unified, 'cgroup.subtree_control'), '+cpu');
      // cpu enabled below the owner dir too: each run gets an equal part of the runs' weight.
      writeFileSync(join(owner, 'cgroup.subtree_control'), '+cpu');
      writeFileSync(join(owner, 'cpu.weight'), String(weight));
      // A dir with runs under it may hold no process itself: the host sits in a leaf beside them.
      mkdirSync(join(owner, SPAWNER_LEAF), { recursive: true });
      return join(owner, SPAWNER_LEAF, 'cgroup.procs');
    }
    // v1 shares are relative to 1024. The runs share the group per task: a cpu dir per run would cost each
    // run one more cgroup migration (1–3 ms).
    const owner = join(layout.cpu, this.ownerName);
    mkdirSync(owner, { recursive: true });
    writeFileSync(join(owner, 'cpu.shares'), String(v1CpuShares(weight)));
    return join(owner, 'cgroup.procs');
  }

  /** Kills and removes every run of every worker process that is gone (pid gone, or reused). */
  async sweep(): Promise<number> {
    let swept = 0;
    for (const owner of this.ownerDirs()) {
      const match = OWNER_DIR.exec(owner)!;
      const stat = readStat(Number(match[1]));
      if (stat !== null && stat.startTime === Number(match[2])) continue; // a live worker's
      for (const run of this.runsOf(owner)) {
        await this.runAt(owner, run).destroy();
        swept++;
      }
      await this.removeOwner(owner);
    }
    return swept;
  }

  /**
   * Removes this process's owner dirs as its last tree closes, once the spawner host has exited and no run is left
   * (a run's dirs still being removed are removed here; a live run keeps everything for the next worker's sweep).
   * Returns whether the dirs were removed.
   */
  async release(): Promise<boolean> {
    openTrees.delete(this);
    if (openTrees.size > 0) return false;
    const runs = this.runsOf(this.ownerName).map((run) => this.runAt(this.ownerName, run));
    if (runs.some((run) => run.populated()) || this.dirsOfOwner(this.ownerName).some(holdsProcesses)) return false;
    for (const run of runs) await run.remove();
    await this.removeOwner(this.ownerName);
    return true;
  }

  private async removeOwner(owner: string): Promise<void> {
    for (const dir of this.dirsOfOwner(owner)) await removeDir(dir);
  }

  /** An owner's dirs that hold no run, deepest first: the v2 spawner leaf, then the owner dir in each hierarchy. */
  private dirsOfOwner(owner: string): string[] {
    const leaf = this.layout.kind === 'v2' ? [join(this.layout.unified, owner, SPAWNER_LEAF)] : [];
    return [...leaf, ...ownerHierarchies(this.layout).map((own) => join(own, owner))];
  }

  /** Kills and removes the cgroup of this execution under any worker: a predecessor, or a run to destroy. */
  async destroyRun(executionId: string): Promise<boolean> {
    let killed = false;
    for (const owner of this.ownerDirs()) {
      for (const run of this.runsOf(owner)) {
        if (existsSync(join(this.layout.unified, owner, run, EXECUTION_MARK_PREFIX + executionId))) killed = (await this.runAt(owner, run).destroy()) || killed;
      }
    }
    return killed;
  }

  /** Creates the cgroup of a run, not yet limited ({@link RunCgroup.limit}) or named ({@link RunCgroup.mark}). */
  create(): RunCgroup {
    const run = this.runAt(this.ownerName, `${RUN_PREFIX}${RUN_TAG}-${nextRun++}`);
    run.make();
    return run;
  }

  private ownerDirs(): string[] {
    const owners = new Set<string>();
    for (const own of ownerHierarchies(this.layout)) {
      for (const name of listDirs(own)) if (OWNER_DIR.test(name)) owners.add(name);
    }
    return [...owners];
  }

  private runsOf(owner: string): string[] {
    const runs = new Set<string>();
    for (const own of hierarchies(this.layout)) {
      for (const name of listDirs(join(own, owner))) if (name.startsWith(RUN_PREFIX)) runs.add(name);
    }
    return [...runs];
  }

  private runAt(owner: string, run: string): RunCgroup {
    const { layout } = this;
    const at = (own: string | null) => (own === null ? null : join(own, owner, run));
    return new RunCgroup(layout.kind, at(layout.unified)!, at(layout.memory), at(layout.pids));
  }
}

/** One run's cgroup dirs (one per hierarchy). */
export class RunCgroup {
  constructor(
    private readonly kind: CgroupLayout['kind'],
    private readonly unified: string,
    private readonly memory: string | null,
    private readonly pids: string | null,
  ) {}

  /** The `cgroup.procs` files a process must join, in order, to be inside the run. */
  get procsFiles(): string[] {
    return this.dirs().map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Makes the dirs, unlimited until {@link limit} (only a launcher of ours waits in them till then). */
  make(): void {
    for (const dir of this.dirs()) mkdirSync(dir, { recursive: true });
  }

  private dirs(): string[] {
    return [this.memory, this.pids, this.unified].filter((dir): dir is string => dir !== null);
  }

  /** Sets the run's limits: from unlimited, so that v1's memory limit never goes above memsw's. */
  limit(limits: CgroupLimits): void {
    const memoryBytes = String(Math.floor(limits.memoryBytes));
    const maxTasks = String(Math.floor(limits.maxTasks));
    if (this.kind === 'v2') {
      writeFileSync(join(this.unified, 'memory.max'), memoryBytes);
      writeIfPresent(join(this.unified, 'memory.swap.max'), '0');
      writeFileSync(join(this.unified, 'pids.max'), maxTasks);
      return;
    }
    writeFileSync(join(this.memory!, 'memory.limit_in_bytes'), memoryBytes);
    // memsw is memory + swap: equal to the memory limit means no swap (absent without swap accounting).
    writeIfPresent(join(this.memory!, 'memory.memsw.limit_in_bytes'), memoryBytes);
    writeFileSync(join(this.pids!, 'pids.max'), maxTasks);
  }

  /** Names the run's execution, for {@link CgroupTree.destroyRun} of any worker on the host. */
  mark(executionId: string): void {
    mkdirSync(join(this.unified, EXECUTION_MARK_PREFIX + executionId));
  }

  usage(): CgroupUsage {
    const memoryDir = this.memory ?? this.unified;
    const peak = this.kind === 'v2' ? readNumber(join(memoryDir, 'memory.peak')) : readNumber(join(memoryDir, 'memory.max_usage_in_bytes'));
    const oomFile = this.kind === 'v2' ? 'memory.events' : 'memory.oom_control';
    return {
      peakMemoryBytes: peak,
      oomKills: readKeyed(join(memoryDir, oomFile), 'oom_kill') ?? 0,
      pidsRefused: readKeyed(join(this.pids ?? this.unified, 'pids.events'), 'max') ?? 0,
      cpuTimeUs: this.cpuTimeUs(),
    };
  }

  /** CPU time of the run so far, µs (cheap: one small read). */
  cpuTimeUs(): number | null {
    return readKeyed(join(this.unified, 'cpu.stat'), 'usage_usec');
  }

  /** Whether any process is in the run (`populated` of cgroup.events counts descendants too). */
  populated(): boolean {
    return readKeyed(join(this.unified, 'cgroup.events'), 'populated') === 1;
  }

  /** SIGKILLs every process in the run at once. Returns whether any was there. */
  kill(): boolean {
    if (!existsSync(this.unified) || !this.populated()) return false;
    writeFileSync(join(this.unified, 'cgroup.kill'), '1');
    return true;
  }

  /**
   * Kills the run, waits for its processes to be gone (up to `waitMs`) and removes its dirs.
   * Returns whether anything was killed.
   */
  async destroy(waitMs = 2_000): Promise<boolean> {
    const killed = await this.killAll(waitMs);
    await this.remove();
    return killed;
  }

  /** Kills the run and waits up to `waitMs` for its processes to be gone. Returns whether anything was killed. */
  async killAll(waitMs = 2_000): Promise<boolean> {
    const killed = this.kill();
    const deadline = performance.now() + waitMs;
    while (existsSync(this.unified) && this.populated() && performance.now() < deadline) await delay(1);
    return killed;
  }

  /**
   * Removes the run's dirs once no process is left in it (waiting up to 3 s), the execution's mark last but the
   * unified dir: until then the run stays findable by its execution. Each rmdir may wait for another run's join
   * (both take the kernel's cgroup_mutex, which a join holds through its RCU grace period).
   */
  async remove(): Promise<void> {
    const deadline = performance.now() + 3_000;
    while (existsSync(this.unified) && this.populated()) {
      if (performance.now() > deadline) throw new Error(`the run's cgroup still holds a process: ${this.unified}`);
      await delay(1);
    }
    for (const dir of [this.memory, this.pids]) if (dir !== null) await removeDir(dir);
    for (const mark of listDirs(this.unified)) if (mark.startsWith(EXECUTION_MARK_PREFIX)) await removeDir(join(this.unified, mark));
    await removeDir(this.unified);
  }
}

/** Whether a process sits in the dir itself (a spawner host of another copy of this module, say). */
function holdsProcesses(dir: string): boolean {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '';
  } catch {
    return false; // no such dir
  }
}

/** The dirs in `dir`; none when it is gone. */
export function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return []; // no such dir: nothing there to list
  }
}

/** rmdir, retried for up to a second: a cgroup whose last process just died can stay busy for a moment. */
export async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 1000) throw err;
      await delay(1);
    }
  }
}

function writeIfPresent(file: string, value: string): void {
  if (existsSync(file)) writeFileSync(file, value);
}

function readNumber(file: string): number | null {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null; // not on this kernel: the figure is reported as unknown
  }
}

/** A value from a `key value` per line file (cgroup.events, cpu.stat, memory.events, pids.events, …). */
function readKeyed(file: string, key: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null; // not on this kernel (or the run is gone): unknown
  }
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}
