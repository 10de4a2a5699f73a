import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExecutionStatus } from '../domain/execution-status';
import { ACTIVITY_FAILURE_TYPES, FailureType } from '../domain/failure-types';
import { ACTIVITY_RETRY_PRESET, DEFAULT_RETRY_PRESETS, toTemporalRetryPolicy } from '../domain/retry-policies';
import type { RetryPresets } from '../domain/retry-policies';
import { CANCEL_REQUESTED_SIGNAL, CAPACITY_GRANTED_SIGNAL, DEFAULT_OUTAGE_PAUSE_MS, INITIAL_SAGA_STATE, RUN_TIMEOUT_MARGIN_MS, SAGA_ACTOR, SAGA_STATE_QUERY, runDeadlineMs } from '../domain/saga';
import type { CancelRequest, ExecutionOutcome, ExecutionSagaInput, SagaState } from '../domain/saga';
import { ExecutionStateKey, OwnerIdKey, startingSearchAttributes } from '../domain/search-attributes';

export const sagaStateQuery = defineQuery<SagaState>(SAGA_STATE_QUERY);
/** Carries actor and reason; the cancel itself is Temporal's cancel request (also possible from the Web UI). */
export const cancelRequestedSignal = defineSignal<[CancelRequest]>(CANCEL_REQUESTED_SIGNAL);
/** Sent by whichever activity freed room in the capacity queue for this execution. */
export const capacityGrantedSignal = defineSignal(CAPACITY_GRANTED_SIGNAL);

/** The runner heartbeats every 500 ms (worker.ts): a run silent this long has lost its worker. */
const RUN_HEARTBEAT_TIMEOUT_MS = 10_000;
/** While queued, the saga asks the queue again this often in case a grant signal was lost. */
const CAPACITY_RECHECK_MS = 30_000;

/** Start-to-close of the database steps: also how long a worker crash mid-step goes unnoticed. */
const STEP_TIMEOUT_MS = 10_000;

/**
 * Patch: storing the result and recording the end outlast a database outage instead of failing the saga
 * (see {@link outlastingOutages}). Histories recorded before it (test/replay/histories/v1-*) take the old path.
 */
const OUTLAST_OUTAGES_PATCH = 'outlast-database-outages';

/**
 * Patch: the short database steps (validate, reserve and release capacity, mark running, store the result,
 * record the end) run as local activities, in the workflow task that reaches them, instead of a round trip
 * through the task queue each: a saga is two workflow tasks and one activity task (the run). Same steps,
 * transactions, retry presets and compensations. Histories recorded before it (v1-*, v2-*) take the old path.
 */
const LOCAL_DATABASE_STEPS_PATCH = 'local-database-steps';

function activitiesFor(presets: RetryPresets, runTimeoutMs: number, localDatabaseSteps: boolean) {
  const withPreset = (name: keyof typeof ACTIVITY_RETRY_PRESET) =>
    proxyActivities<Activities>({ startToCloseTimeout: STEP_TIMEOUT_MS, retry: toTemporalRetryPolicy(presets[ACTIVITY_RETRY_PRESET[name]]) });
  // A local step's retries back off in the worker up to localRetryThreshold (1 min), then on a workflow timer.
  const databaseStep = (name: keyof typeof ACTIVITY_RETRY_PRESET) =>
    localDatabaseSteps
      ? proxyLocalActivities<Activities>({ startToCloseTimeout: STEP_TIMEOUT_MS, retry: toTemporalRetryPolicy(presets[ACTIVITY_RETRY_PRESET[name]]) })
      : withPreset(name);
  return {
    validateExecution: databaseStep('validateExecution').validateExecution,
    reserveCapacity: databaseStep('reserveCapacity').reserveCapacity,
    releaseCapacity: databaseStep('releaseCapacity').releaseCapacity,
    markRunning: databaseStep('markRunning').markRunning,
    runScript: proxyActivities<Activities>({
      startToCloseTimeout: runTimeoutMs,
      heartbeatTimeout: RUN_HEARTBEAT_TIMEOUT_MS,
      // Compensation must not start before the run has really stopped.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: toTemporalRetryPolicy(presets[ACTIVITY_RETRY_PRESET.runScript]),
    }).runScript,
    destroyRunner: withPreset('destroyRunner').destroyRunner,
    storeResult: databaseStep('storeResult').storeResult,
    recordTerminal: databaseStep('recordTerminal').recordTerminal,
  };
}

/**
 * The execution saga: validate → reserve capacity → mark running → run → store result → release capacity.
 * Each compensation is registered as its step is entered; on failure or cancel they run, newest first, in a
 * non-cancellable scope, and the terminal state is recorded: `cancelled`, `error`, or `timed_out` past the saga deadline.
 * @throws ValidationFailed, TransitionRefused, or the activity failure that exhausted its retries (status `error`).
 */
export async function executionSaga(input: ExecutionSagaInput): Promise<ExecutionOutcome> {
  const acts = activitiesFor(input.retryPresets, input.limits.wallTimeMs + RUN_TIMEOUT_MARGIN_MS, patched(LOCAL_DATABASE_STEPS_PATCH));
  const ref = { executionId: input.executionId };
  const state: SagaState = { ...INITIAL_SAGA_STATE };
  setHandler(sagaStateQuery, () => state);
  let cancelRequest: CancelRequest = { actor: 'temporal', reason: 'workflow cancelled in Temporal' };
  setHandler(cancelRequestedSignal, (request) => {
    cancelRequest = request;
  });
  let capacityGranted = false;
  setHandler(capacityGrantedSignal, () => {
    capacityGranted = true;
  });
  const setStatus = (status: ExecutionStatus) => {
    state.status = status;
    upsertSearchAttributes([{ key: ExecutionStateKey, value: status }]);
  };
  // The API starts the saga with its search attributes; one started without them (before it did, or by hand
  // from the CLI) sets them here. Deterministic without a patch: the start event decides, on replay as when run.
  if (workflowInfo().typedSearchAttributes.get(OwnerIdKey) === undefined) upsertSearchAttributes(startingSearchAttributes(input));

  const outlastOutages = patched(OUTLAST_OUTAGES_PATCH);
  const pauseMs = input.outagePauseMs ?? DEFAULT_OUTAGE_PAUSE_MS;
  /** A finishing step: its result must not be lost to a database outage. */
  const finishing = <T>(step: () => Promise<T>): Promise<T> => (outlastOutages ? outlastingOutages(step, pauseMs, state) : step());

  const compensations: Array<() => Promise<void>> = [];
  let deadlineHit = false;
  try {
    await acts.validateExecution(input);

    state.step = 'reserving_capacity';
    // Registered before joining the queue: a cancel while waiting must leave it.
    compensations.unshift(() => acts.releaseCapacity(ref));
    let reservation = await acts.reserveCapacity(input);
    while (!reservation.granted && !capacityGranted) {
      state.capacityPosition = reservation.position;
      // Woken by the capacityGranted signal; the timeout only guards against a lost signal.
      if (await condition(() => capacityGranted, CAPACITY_RECHECK_MS)) break;
      reservation = await acts.reserveCapacity(input);
    }
    state.capacityPosition = null;

    state.step = 'marking_running';
    await acts.markRunning(ref);
    setStatus('running');

    state.step = 'running';
    // Registered before the run: a cancelled or crashed run must be killed even if it never returned.
    compensations.unshift(() => acts.destroyRunner(ref));
    // Last resort behind the runner's wall limit and the activity timeouts: past this the run is abandoned.
    const runScope = new CancellationScope();
    void sleep(runDeadlineMs(input.limits.wallTimeMs, input.retryPresets[ACTIVITY_RETRY_PRESET.runScript])).then(
      () => {
        deadlineHit = true;
        runScope.cancel();
      },
      () => undefined, // the whole saga was cancelled first
    );
    const result = await runScope.run(() => acts.runScript(ref));

    state.step = 'storing_result';
    const outcome = await finishing(() => acts.storeResult({ ...ref, result }));
    setStatus(outcome.status);

    state.step = 'releasing_capacity';
    await acts.releaseCapacity(ref);
    state.step = 'done';
    await notifyCompletion(input);
    return outcome;
  } catch (err) {
    state.step = 'compensating';
    const cancelled = isCancellation(err) && !deadlineHit;
    const outcome = await CancellationScope.nonCancellable(async () => {
      for (const compensate of compensations) await compensate();
      if (deadlineHit) {
        return finishing(() => acts.recordTerminal({ ...ref, to: 'timed_out', errorType: 'timeout', errorMessage: 'saga deadline passed: the run was abandoned', actor: SAGA_ACTOR, reason: 'deadline' }));
      }
      return finishing(() => acts.recordTerminal({
        ...ref,
        to: cancelled ? 'cancelled' : 'error',
        errorType: cancelled ? 'cancelled' : 'system_error',
        errorMessage: cancelled ? `cancelled by ${cancelRequest.actor}` : describeFailure(err),
        actor: cancelled ? cancelRequest.actor : SAGA_ACTOR,
        reason: cancelled ? cancelRequest.reason : null,
      }));
    });
    setStatus(outcome.status);
    state.step = 'done';
    await notifyCompletion(input);
    if (deadlineHit) return outcome;
    if (cancelled) throw err;
    throw ApplicationFailure.nonRetryable(`execution ended in ${outcome.status}: ${describeFailure(err)}`, failureTypeOf(err) ?? FailureType.SystemError);
  }
}

/** Patch: the completion webhook, sent after the end is recorded (histories before it never call `patched` for it: they had no callbackUrl). */
const COMPLETION_WEBHOOK_PATCH = 'completion-webhook';
/** Start-to-close of one webhook attempt: above the largest WEBHOOK_TIMEOUT_MS (50 s). */
const WEBHOOK_ATTEMPT_TIMEOUT_MS = 60_000;

/**
 * Sends the completion webhook when the request asked for one. Runs after the terminal state is recorded and
 * capacity released, so the execution's end never waits for the receiver; its own retry preset paces the
 * attempts, each recorded on the execution by the activity; a cancel arriving meanwhile does not stop it, and
 * its failure never fails the saga (it is already recorded as the delivery's outcome).
 */
async function notifyCompletion(input: ExecutionSagaInput): Promise<void> {
  if (input.callbackUrl === undefined || !patched(COMPLETION_WEBHOOK_PATCH)) return;
  const preset = input.retryPresets.webhook ?? DEFAULT_RETRY_PRESETS.webhook;
  const { deliverCompletionWebhook } = proxyActivities<Activities>({ startToCloseTimeout: WEBHOOK_ATTEMPT_TIMEOUT_MS, retry: toTemporalRetryPolicy(preset) });
  await CancellationScope.nonCancellable(async () => {
    try {
      await deliverCompletionWebhook({ executionId: input.executionId, callbackUrl: input.callbackUrl!, maximumAttempts: preset.maximumAttempts });
    } catch (err) {
      // Each attempt is a row of webhook_deliveries; this is what is left (e.g. the database was down as it recorded).
      log.warn('completion webhook activity failed; its attempts are recorded on the execution', { executionId: input.executionId, error: describeFailure(err) });
    }
  });
}

/**
 * Runs a finishing step until it succeeds or fails for a reason of its own. Its retry preset covers a blip;
 * when the preset is used up by a transient failure (the database is down), the saga pauses and tries again,
 * holding the run's result in its history meanwhile, so an outage delays the end but loses nothing. A
 * business failure (non-retryable) or a cancel ends the loop. The saga run timeout bounds it.
 */
async function outlastingOutages<T>(step: () => Promise<T>, pauseMs: number, state: SagaState): Promise<T> {
  for (;;) {
    try {
      return await step();
    } catch (err) {
      const nonRetryable = (reportedFailure(err) as { nonRetryable?: boolean } | undefined)?.nonRetryable === true;
      if (isCancellation(err) || nonRetryable) throw err;
      state.outagePauses = (state.outagePauses ?? 0) + 1;
      await sleep(pauseMs);
    }
  }
}

/**
 * What the failed step reported: an activity task's failure arrives as the cause of an ActivityFailure; a local
 * activity's failure arrives as itself (only its timeouts and cancels are wrapped).
 */
function reportedFailure(err: unknown): unknown {
  return (err as { cause?: unknown } | undefined)?.cause ?? err;
}

function describeFailure(err: unknown): string {
  const cause = reportedFailure(err) as { message?: string } | undefined;
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** The domain failure type carried by an activity failure, if any (never `instanceof` across the sandbox). */
function failureTypeOf(err: unknown): string | undefined {
  const type = (reportedFailure(err) as { type?: string } | undefined)?.type;
  return type && (ACTIVITY_FAILURE_TYPES as readonly string[]).includes(type) ? type : undefined;
}
