import type { Language, RunLimits } from './runtimes';
import type { RetryPreset, RetryPresets } from './retry-policies';
import type { ExecutionStatus, ErrorType } from './execution-status';

/**
 * Workflow input of `executionSaga`; the workflow id is `executionId`. It carries the whole request, so the
 * saga can create the execution row itself if the API stopped between starting the workflow and writing it.
 */
export interface ExecutionSagaInput {
  executionId: string;
  ownerId: string;
  language: Language;
  version: string;
  script: string;
  stdin: string | null;
  limits: RunLimits;
  correlationId: string;
  retryOfId: string | null;
  /** The client's Idempotency-Key and the hash of its request, when it sent one. */
  idempotencyKey: string | null;
  requestHash: string | null;
  /** W3C traceparent of the creating request; absent in histories recorded before it existed. */
  traceparent?: string | null;
  /** Retry presets compiled from config by the starter, so workflow code never reads config. */
  retryPresets: RetryPresets;
  /**
   * Pause before a finishing step (storing the result, recording the end) is tried again once its retry
   * preset is used up, ms; absent in histories recorded before it existed. @default 60000
   */
  outagePauseMs?: number;
  /**
   * Where the completion webhook goes once the end is recorded (checked by the API; the worker checks the
   * address again as it connects); absent when none was asked for, and in histories recorded before it existed.
   */
  callbackUrl?: string;
}

/** {@link ExecutionSagaInput.outagePauseMs} when the starter gave none. */
export const DEFAULT_OUTAGE_PAUSE_MS = 60_000;

/** What the saga ends with (the workflow result). */
export interface ExecutionOutcome {
  executionId: string;
  status: ExecutionStatus;
  errorType: ErrorType | null;
  exitCode: number | null;
}

export const SagaStep = {
  validating: 'validating',
  reserving_capacity: 'reserving_capacity',
  marking_running: 'marking_running',
  running: 'running',
  storing_result: 'storing_result',
  releasing_capacity: 'releasing_capacity',
  compensating: 'compensating',
  done: 'done',
} as const;
export type SagaStep = (typeof SagaStep)[keyof typeof SagaStep];

/** The saga's state before its first workflow task: what its query would answer, known without asking it. */
export const INITIAL_SAGA_STATE: Readonly<SagaState> = { step: SagaStep.validating, status: 'queued', capacityPosition: null };

/** Live state returned by the `sagaState` query. */
export interface SagaState {
  step: SagaStep;
  status: ExecutionStatus;
  /** Waiting executions ahead of this one while it waits for capacity; null otherwise. */
  capacityPosition: number | null;
  /**
   * Times a finishing step used up its retries (the database was down) and paused before trying again;
   * absent before this existed.
   */
  outagePauses?: number;
}

/** Who asked for a cancel, and why; sent to the saga before Temporal's cancel request. */
export interface CancelRequest {
  actor: string;
  reason: string | null;
}

/** Actor recorded in the audit trail for transitions the saga makes on its own. */
export const SAGA_ACTOR = 'system:saga';
/** Actor recorded for the end of a saga that Temporal closed without recording one (see reconciler/). */
export const RECONCILER_ACTOR = 'system:reconciler';

/** Names shared by the API (which starts and signals workflows by name) and the worker. */
export const WORKFLOW_NAME = 'executionSaga';
export const SAGA_STATE_QUERY = 'sagaState';
export const CANCEL_REQUESTED_SIGNAL = 'cancelRequested';
export const CAPACITY_GRANTED_SIGNAL = 'capacityGranted';

/** Start-to-close margin of the run over the script's own wall limit: the runner enforces the limit, this is the safety net. */
export const RUN_TIMEOUT_MARGIN_MS = 30_000;

/**
 * The saga's own deadline for the run step: every attempt the run's retry preset allows, each to its
 * start-to-close timeout, plus the longest backoffs. Past it the run is abandoned and `timed_out` recorded.
 */
export function runDeadlineMs(wallTimeMs: number, runPreset: Pick<RetryPreset, 'maximumIntervalMs' | 'maximumAttempts'>): number {
  return (wallTimeMs + RUN_TIMEOUT_MARGIN_MS + runPreset.maximumIntervalMs) * runPreset.maximumAttempts;
}

/** Arguments of the `reconcileExecutions` workflow, started by the reconciler schedule. */
export interface ReconcileInput {
  retryPresets: RetryPresets;
}

/** What one reconciler pass found and recorded. */
export interface ReconcileSummary {
  /** Closed sagas whose execution Temporal still listed as queued or running. */
  examined: number;
  /** Executions this pass moved to a terminal state. */
  recorded: Array<{ executionId: string; workflowStatus: string; status: ExecutionStatus }>;
}

export const RECONCILE_WORKFLOW_NAME = 'reconcileExecutions';
