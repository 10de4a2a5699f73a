import type { ExecutionStatus } from '../domain/execution-status';

/** The state machine refused a transition: the execution is in `current`, not in any of `from`. */
export class TransitionRefusedError extends Error {
  constructor(
    readonly executionId: string,
    readonly from: readonly ExecutionStatus[],
    readonly to: ExecutionStatus,
    readonly current: ExecutionStatus | null,
  ) {
    super(
      current === null
        ? `execution ${executionId} does not exist`
        : `execution ${executionId} is ${current}; ${from.join('|')} → ${to} refused`,
    );
    this.name = 'TransitionRefusedError';
  }
}

/** An owner's quota of unfinished executions is full: `active` are queued or running, at most `quota` at once. */
export class OwnerQuotaExceededError extends Error {
  constructor(
    readonly ownerId: string,
    readonly active: number,
    readonly quota: number,
  ) {
    super(`owner ${ownerId} has ${active} executions queued or running; at most ${quota} at once`);
    this.name = 'OwnerQuotaExceededError';
  }
}
