/** Lifecycle states of an execution; `error` is a system failure after retries were exhausted. */
export const ExecutionStatus = {
  queued: 'queued',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  timed_out: 'timed_out',
  cancelled: 'cancelled',
  error: 'error',
} as const;
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];

export const TERMINAL_STATUSES: readonly ExecutionStatus[] = ['completed', 'failed', 'timed_out', 'cancelled', 'error'];
/** Queued or running: the states a query should name (an index answers `IN`, never `NOT IN`). */
export const UNFINISHED_STATUSES: readonly ExecutionStatus[] = Object.values(ExecutionStatus).filter((s) => !TERMINAL_STATUSES.includes(s));

const ALLOWED_TRANSITIONS: Record<ExecutionStatus, readonly ExecutionStatus[]> = {
  // queued → timed_out: the saga's workflow run timeout passed while it waited for capacity.
  queued: ['running', 'timed_out', 'cancelled', 'error'],
  running: ['completed', 'failed', 'timed_out', 'cancelled', 'error'],
  completed: [],
  failed: [],
  timed_out: [],
  cancelled: [],
  error: [],
};

export function isTerminal(status: ExecutionStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Whether the state machine allows `from → to`; anything else is refused, never applied. */
export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Why a run did not complete, as the user sees it. */
export const ErrorType = {
  script_error: 'script_error',
  timeout: 'timeout',
  resource_limit: 'resource_limit',
  cancelled: 'cancelled',
  system_error: 'system_error',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];
