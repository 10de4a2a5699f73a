/**
 * `ApplicationFailure` type strings: the contract across the workflow boundary.
 * Activities throw them non-retryable; the workflow branches on `cause.type`.
 */
export const FailureType = {
  /** The request breaks a rule (unknown runtime, limits above the maxima). */
  ValidationFailed: 'ValidationFailed',
  /** A status change the state machine does not allow. */
  TransitionRefused: 'TransitionRefused',
  /** The execution row does not exist. */
  ExecutionNotFound: 'ExecutionNotFound',
  /** The runner could not start the interpreter (missing binary, bad runtime config). */
  RunnerUnavailable: 'RunnerUnavailable',
  /** Thrown by the saga itself, not an activity: it ended in `error` for a failure that carries no type above. */
  SystemError: 'SystemError',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** The types activities throw (non-retryable); `SystemError` is only ever the saga's own. */
export const ACTIVITY_FAILURE_TYPES: readonly FailureType[] = [FailureType.ValidationFailed, FailureType.TransitionRefused, FailureType.ExecutionNotFound, FailureType.RunnerUnavailable];

export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = ACTIVITY_FAILURE_TYPES;
