import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export class WaitError extends Error {
  override name = 'WaitError';
}

export interface WaitOptions {
  /** Give up after this long, ms. @default 20000 */
  deadlineMs?: number;
  /** Pause between probes, ms. @default 250 */
  intervalMs?: number;
  /** Checked between probes: a reason to stop waiting early (e.g. the process exited). */
  giveUp?: () => string | undefined;
}

/**
 * Polls `probe` until it returns a value other than undefined/false, or the deadline passes.
 * A probe that throws counts as "not yet"; its last error is reported if the wait fails.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const started = Date.now();
  const deadlineMs = opts.deadlineMs ?? 20_000;
  const interval = opts.intervalMs ?? 250;
  let lastProblem = '';
  for (;;) {
    const reason = opts.giveUp?.();
    if (reason) throw new WaitError(`gave up waiting for ${what}: ${reason}`);
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastProblem = '';
    } catch (err) {
      lastProblem = err instanceof Error ? err.message : String(err);
    }
    const elapsed = Date.now() - started;
    if (elapsed >= deadlineMs) {
      const last = lastProblem ? ` (last check: ${lastProblem})` : '';
      throw new WaitError(`timed out after ${formatMs(deadlineMs)} waiting for ${what}${last}`);
    }
    await sleep(Math.min(interval, deadlineMs - elapsed));
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}
