import { WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { Execution } from '../generated/prisma/client';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import type { Db } from '../store/db';
import type { Producer } from '../store/envelope';
import { TransitionRefusedError } from '../store/errors';
import { findExecution, markSagaStarted, possiblyUnstarted, unconfirmedStarts } from '../store/executions';
import { applyTransition } from '../store/transitions';
import type { ExecutionSagaInput } from '../domain/saga';
import { missingSearchAttribute, refusedForGood } from './dependency-errors';
import { sagaInputOf, startSaga } from './saga-start';
import type { SagaStartDeps } from './saga-start';

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
export async function abandonUnstarted(db: Db, executionId: string, producer: Producer, log: Logger, errorMessage = NOT_STARTED_MESSAGE): Promise<Execution | null> {
  try {
    const { execution } = await applyTransition(db, {
      executionId,
      from: ['queued'],
      to: 'error',
      actor: API_ACTOR,
      reason: 'saga not started',
      fields: { errorType: 'system_error', errorMessage, finishedAt: new Date() },
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

/** What a deferred start needs (SAGA_START=deferred): the row's database, and how sagas are started. */
export interface DeferredStartDeps {
  db: Db;
  producer: Producer;
  starting: SagaStartDeps;
}

/**
 * Starts the saga of a committed row (SAGA_START=deferred) and records that it exists; never throws. `waiting`:
 * Temporal did not answer (or not in time), and the row stays `queued` for the sweep to start. `refused`: Temporal
 * refused this start for good (a search attribute not registered, a payload too large), and the row is recorded
 * as `error` with its words, since no later start would do better.
 */
export async function startDeferred(deps: DeferredStartDeps, input: ExecutionSagaInput, log: Logger): Promise<'started' | 'waiting' | 'refused'> {
  try {
    await startSaga(deps.starting, input);
  } catch (err) {
    if (refusedForGood(err)) {
      const why = missingSearchAttribute(err) ?? coerceError(err).message;
      log.error({ err: coerceError(err), execution_id: input.executionId }, 'Temporal refused the saga; execution recorded as error');
      await abandonUnstarted(deps.db, input.executionId, deps.producer, log, `its saga was refused by Temporal (${why}): the script never ran`);
      return 'refused';
    }
    log.warn({ err: coerceError(err), execution_id: input.executionId }, 'saga not started yet; the sweep starts it once Temporal answers');
    return 'waiting';
  }
  // Lost with Postgres gone: the sweep finds the saga there and records it then.
  await markSagaStarted(deps.db, input.executionId).catch((err: unknown) => log.warn({ err: coerceError(err), execution_id: input.executionId }, 'could not record that the saga started; the sweep records it'));
  return 'started';
}

export interface UnstartedSweeperDeps {
  db: Db;
  temporal: Client;
  producer: Producer;
  log: Logger;
  /** How long a row may wait for a retry of its request to start it (config UNSTARTED_EXECUTION_GRACE_MS), ms. */
  graceMs: number;
  /** How sagas are started (config SAGA_START): with `deferred` the sweep starts rows instead of ending them. */
  starting?: SagaStartDeps;
}

export interface UnstartedSweeper {
  /** One pass: how many executions it recorded as `error` (inline starts) or found a saga for (deferred starts). */
  sweepOnce(): Promise<number>;
  stop(): void;
}

/** Time between two passes over deferred starts, ms: how long a row waits at most once Temporal answers again. */
const DEFERRED_SWEEP_MS = 5_000;
/** Pages of {@link SWEEP_BATCH} rows one pass over deferred starts takes at most; the rest wait for the next. */
const DEFERRED_PAGES_PER_PASS = 20;

/**
 * The safety net of the API's order of writes (row first, then the saga), in every API process.
 *
 * Inline starts (SAGA_START=inline): every `graceMs` (at most each minute) it looks for rows still `queued` past
 * the grace with no sign of a saga, asks Temporal whether their saga exists, and records those without one as
 * `error`. Deferred starts: every {@link DEFERRED_SWEEP_MS} it starts the rows that no start was seen for
 * within SAGA_START_TIMEOUT_MS (the process that wrote them died, or Temporal did not answer), oldest first,
 * one at a time. Replicas doing it at once is harmless: a transition is guarded, and a second start of one saga
 * finds the first. With Temporal down a pass stops at the first failed question and waits for the next.
 */
export function startUnstartedSweeper(deps: UnstartedSweeperDeps): UnstartedSweeper {
  const log = deps.log.child({ component: 'unstarted-sweeper' });
  const starting = deps.starting?.saga.start === 'deferred' ? deps.starting : null;

  async function abandonPass(): Promise<number> {
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

  async function startPass(s: SagaStartDeps): Promise<number> {
    const starting = { db: deps.db, producer: deps.producer, starting: s };
    let confirmed = 0;
    pages: for (let page = 0; page < DEFERRED_PAGES_PER_PASS; page++) {
      const rows = await unconfirmedStarts(deps.db, new Date(Date.now() - s.saga.startTimeoutMs), SWEEP_BATCH);
      for (const row of rows) {
        const outcome = await startDeferred(starting, sagaInputOf(row, row.id, s), log);
        if (outcome === 'waiting') break pages; // Temporal does not answer: the next pass
        if (outcome === 'started') confirmed++;
      }
      if (rows.length < SWEEP_BATCH) break;
    }
    // Said also when a pass stopped at a start Temporal did not answer, after starting others.
    if (confirmed > 0) log.info({ started: confirmed }, 'deferred starts swept');
    return confirmed;
  }

  const sweepOnce = starting ? () => startPass(starting) : abandonPass;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepOnce()
      .catch((err: unknown) => log.warn({ err: coerceError(err) }, 'unstarted-execution sweep failed; the next one retries'))
      .finally(() => (running = false));
  }, starting ? DEFERRED_SWEEP_MS : Math.max(1_000, Math.min(deps.graceMs, 60_000)));
  timer.unref();
  return { sweepOnce, stop: () => clearInterval(timer) };
}
