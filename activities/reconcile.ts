import { RECONCILER_ACTOR } from '../domain/saga';
import type { ClosedSaga, Termination } from '../reconciler/closed-sagas';
import type { ErrorType, ExecutionStatus } from '../domain/execution-status';

/** A terminal state to record from whichever non-terminal state an execution is in (saga or reconciler). */
export interface TerminalRecord {
  executionId: string;
  to: Extract<ExecutionStatus, 'cancelled' | 'error' | 'timed_out'>;
  errorType: ErrorType;
  errorMessage: string;
  actor: string;
  reason: string | null;
}

/**
 * The terminal state for a saga Temporal closed before it recorded one. A terminate is an operator's
 * stop, so it is recorded as `cancelled` by that identity; a run timeout is `timed_out`; anything
 * else (the saga failed while recording) is a system `error`.
 */
export function terminalRecordFor(saga: ClosedSaga, termination: Termination | null): TerminalRecord {
  const executionId = saga.executionId;
  if (saga.workflowStatus === 'TERMINATED') {
    const reason = termination?.reason ?? null;
    return {
      executionId,
      to: 'cancelled',
      errorType: 'cancelled',
      errorMessage: `workflow terminated in Temporal${reason ? `: ${reason}` : ''}`,
      actor: `temporal:${termination?.identity ?? 'unknown'}`,
      reason,
    };
  }
  if (saga.workflowStatus === 'TIMED_OUT') {
    return { executionId, to: 'timed_out', errorType: 'timeout', errorMessage: 'workflow run timeout passed before the saga ended', actor: RECONCILER_ACTOR, reason: 'workflow run timeout' };
  }
  return {
    executionId,
    to: 'error',
    errorType: 'system_error',
    errorMessage: `workflow closed as ${saga.workflowStatus} without recording a terminal state`,
    actor: RECONCILER_ACTOR,
    reason: null,
  };
}
