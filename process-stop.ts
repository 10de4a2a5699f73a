import type { Logger } from './observability/logger';
import { coerceError } from './observability/logger';
import { fulfilledWithin } from './fulfilled-within';

/** Longest wait for one step of a component's stop (closing a pool, a connection) before the stop goes on. */
export const STOP_STEP_TIMEOUT_MS = 10_000;

/**
 * One step of a stop, bounded: a client's close that never settles (a pool waiting for a connection that died
 * with a Postgres restart, say) is named in a warning and left behind, so the stop still ends. Its failure is
 * logged, not thrown: the steps after it still run.
 */
export async function stopStep(log: Logger, step: string, close: () => Promise<unknown> | unknown, timeoutMs = STOP_STEP_TIMEOUT_MS): Promise<void> {
  try {
    if (!(await fulfilledWithin(Promise.resolve().then(close), timeoutMs))) log.warn({ step, timeout_ms: timeoutMs }, 'stop step did not finish in time; going on without it');
  } catch (err) {
    log.warn({ step, err: coerceError(err) }, 'stop step failed; going on');
  }
}
