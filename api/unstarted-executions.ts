import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { Execution } from '../generated/prisma/client';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import type { Db } from '../store/db';
import type { Producer } from '../store/envelope';
import { TransitionRefusedError } from '../store/errors';
import { findExecution, possiblyUnstarted } from '../store/executions';
import { applyTransition } from '../store/transitions';

/** Audit actor of the API's own decision that an execution will not run. */
export const API_ACTOR = 'system:api';
/** `errorMessage` of an execution whose saga could not be started. */
export const NOT_STARTED_MESSAGE = 'its saga could not be started (Temporal did not answer): the script never ran';

/** Rows one sweep checks at most; the rest wait for the next. */
const SWEEP_BATCH = 100;
/** Longest wait for Temporal to describe one saga during a sweep, ms. */
const DESCRIBE_DEADLINE_MS = 5_000;

/**
 * Records as `error` (queued → error, with its audit row and `execution_failed` event, in one transaction)
 * an execution whose saga was not started, so that it never runs: a saga started after all finds the row ended
 * and refuses to run (queued → running is refused). Returns the row as it is now: still what the caller saw
 * when a concurrent start moved it on (then it runs), or null when the write failed (logged; a later sweep
 * tries again).
 */
export async function abandonUnstarted(db: Db, executionId: string, producer: Producer, log: Logger): Promise<Execution | null> {
  try {
    const { execution } = await applyTransition(db, {
      executionId,
      from: ['queued'],
      to: 'error',
      actor: API_ACTOR,
      reason: 'saga not started',
      fields: { errorType: 'system_error', errorMessage: NOT_STARTED_MESSAGE, finishedAt: new Date() },
      producer,
    });
    log.warn({ execution_id: executionId }, 'execution recorded as error: its saga could not be started');
    return execution;
  } catch (err) {
    if (err instanceof TransitionRefusedError) return findExecution(db, executionId);
    log.error({ err: coerceError(err), execution_id: executionId }, 'could not record an unstarted execution as error; the next sweep tries again');
    return null;
  }
}

export interface UnstartedSweeperDeps {
  db: Db;
  temporal: Client;
  producer: Producer;
  log: Logger;
  /** How long a row may wait for a retry of its request to start it (config UNSTARTED_EXECUTION_GRACE_MS), ms. */
  graceMs: number;
}

export interface UnstartedSweeper {
  /** One pass: returns how many executions it recorded as `error`. */
  sweepOnce(): Promise<number>;
  stop(): void;
}

/**
 * The safety net of the API's order of writes (row first, then the saga): every API process looks, every
 * `graceMs` (at most each minute), for rows still `queued` past the grace with no sign of a saga, asks Temporal
 * whether their saga exists, and records those without one as `error`. Replicas doing it at once is harmless:
 * the transition is guarded. With Temporal down a pass stops at the first failed question and waits for the next.
 */
export function startUnstartedSweeper(deps: UnstartedSweeperDeps): UnstartedSweeper {
  const log = deps.log.child({ component: 'unstarted-sweeper' });
  async function sweepOnce(): Promise<number> {
    const rows = await possiblyUnstarted(deps.db, new Date(Date.now() - deps.graceMs), SWEEP_BATCH);
    let abandoned = 0;
    for (const row of rows) {
      try {
        await deps.temporal.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () => deps.temporal.workflow.getHandle(row.workflowId).describe());
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        if ((await abandonUnstarted(deps.db, row.id, deps.producer, log))?.status === 'error') abandoned++;
      }
    }
    return abandoned;
  }
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepOnce()
      .catch((err: unknown) => log.warn({ err: coerceError(err) }, 'unstarted-execution sweep failed; the next one retries'))
      .finally(() => (running = false));
  }, Math.max(1_000, Math.min(deps.graceMs, 60_000)));
  timer.unref();
  return { sweepOnce, stop: () => clearInterval(timer) };
}
