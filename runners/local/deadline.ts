/** A stop handle for a deadline armed with {@link armDeadline}. */
export interface Deadline {
  clear(): void;
}

/**
 * Calls `onExpire` once `ms` milliseconds have passed since `startedAt` (a `performance.now()`
 * reading), never before. Node's timers run on libuv's whole-millisecond clock and routinely
 * fire up to ~2 ms early against `performance.now()`; a wall-time kill that early would record
 * a timed-out run as shorter than its limit. So an early wake-up re-arms for what is left.
 */
export function armDeadline(startedAt: number, ms: number, onExpire: () => void): Deadline {
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    const remaining = ms - (performance.now() - startedAt);
    if (remaining <= 0) {
      timer = undefined;
      onExpire();
      return;
    }
    timer = setTimeout(check, Math.ceil(remaining));
  };
  check();
  return {
    clear: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
