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
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export const NON_RETRYABLE_FAILURE_TYPES: readonly FailureType[] = Object.values(FailureType);
