import type { RunnerLog } from '../runner';
import type { CgroupTree, RunCgroup } from './cgroup';
import { SANDBOX_FDS, buildLauncherCommand, type SandboxTools } from './sandbox-command';
import type { LaunchedProcess, Spawner } from './spawner';
import { fulfilledWithin } from '../../fulfilled-within';

/**
 * A launcher in a run's cgroups, waiting for its start order (sandbox-command.ts `buildLauncherCommand`).
 * `launched` rejects when it could not be started; `gone` turns true once its process has exited.
 */
export interface SandboxSlot {
  cgroup: RunCgroup;
  launched: Promise<LaunchedProcess>;
  readonly gone: boolean;
}

/**
 * Closes a launcher that was never sent its start order: with its sockets closed it reads no order and exits, even
 * one still joining its cgroups (which a kill of the cgroup would miss).
 */
export async function closeLauncher(slot: SandboxSlot): Promise<LaunchedProcess | null> {
  const process = await slot.launched.catch(() => null);
  for (const socket of process?.stdio ?? []) socket.destroy();
  return process;
}

/** How long a discarded launcher, killed, may take to be reaped by the spawner host. */
const REAP_WAIT_MS = 5_000;

/** A prepared slot unused for this long is let go (the spawner host then idles out too). */
const PREPARED_IDLE_MS = 30_000;

export interface PreparedSandboxesOptions {
  cgroups: CgroupTree;
  spawner: Spawner;
  tools: SandboxTools;
  hostUser: { uid: number; gid: number } | null;
  /** How many launchers wait ready at most. 0 prepares each run's on demand. */
  size: number;
  log?: RunnerLog;
}

/**
 * Launchers started before their runs. Joining a cgroup may wait ~10 ms for an RCU grace period (cgroup.ts
 * `cgroupMovesFavored`), and forking the launcher and passing its sockets to the worker takes 3–5 ms more: a
 * prepared launcher has paid all of that before a run asks for it, which then only sets its limits, names it
 * and sends its start order. As each run starts, the pool is filled again: the new launcher's cgroup joins then
 * wait beside that run instead of before the next (a refill started as a run ended delayed the next run's start
 * by ~8 ms, measured: a join holds the kernel's cgroup_mutex through its grace period, and the next run's mkdir
 * and rmdir need it). Unused launchers go after 30 s.
 */
export class PreparedSandboxes {
  private readonly ready: Array<{ slot: SandboxSlot; expiry: NodeJS.Timeout }> = [];
  private closed = false;

  constructor(private readonly options: PreparedSandboxesOptions) {}

  /** A prepared launcher if one is alive, else one started now. */
  take(): SandboxSlot {
    while (this.ready.length > 0) {
      const { slot, expiry } = this.ready.shift()!;
      clearTimeout(expiry);
      if (!slot.gone) return slot;
      void this.discard(slot);
    }
    return this.start();
  }

  /** Prepares launchers up to the pool's size (once the runner is ready, and as each run starts). */
  fill(): void {
    while (!this.closed && this.ready.length < this.options.size) {
      let slot: SandboxSlot;
      try {
        slot = this.start();
      } catch (err) {
        this.options.log?.warn('preparing a sandbox launcher failed', { err: String(err) });
        return; // the next run starts its own, and reports what fails
      }
      const expiry = setTimeout(() => this.expire(slot), PREPARED_IDLE_MS).unref();
      this.ready.push({ slot, expiry });
    }
  }

  /** Kills and removes the waiting launchers; none is prepared after this. */
  async close(): Promise<void> {
    this.closed = true;
    const waiting = this.ready.splice(0);
    for (const { expiry } of waiting) clearTimeout(expiry);
    await Promise.all(waiting.map(({ slot }) => this.discard(slot)));
  }

  private start(): SandboxSlot {
    const { cgroups, spawner, tools, hostUser } = this.options;
    const cgroup = cgroups.create();
    const command = buildLauncherCommand({ tools, cgroupProcs: cgroup.procsFiles, hostUser });
    let gone = false;
    const launched = spawner.launch(command, { cwd: undefined, env: {}, stdio: SANDBOX_FDS, idle: true });
    const ended = () => (gone = true);
    launched.then((process) => process.exited).then(ended, ended);
    return {
      cgroup,
      launched,
      get gone() {
        return gone;
      },
    };
  }

  private expire(slot: SandboxSlot): void {
    const index = this.ready.findIndex((entry) => entry.slot === slot);
    if (index === -1) return;
    this.ready.splice(index, 1);
    void this.discard(slot);
  }

  /**
   * Closes the launcher first: one still joining its cgroups would be missed by the cgroup's kill. Then waits for
   * the spawner host to reap it: a killed process leaves its cgroup (which can then be removed) before its parent
   * has reaped it, and a closed runner leaves no process behind (a fresh-clone CI run saw one in /proc just after).
   */
  private async discard(slot: SandboxSlot): Promise<void> {
    try {
      const process = await closeLauncher(slot);
      await slot.cgroup.destroy();
      if (process !== null) await fulfilledWithin(process.exited.catch(() => undefined), REAP_WAIT_MS);
    } catch (err) {
      this.options.log?.warn('removing a prepared sandbox launcher failed', { err: String(err) });
    }
  }
}
