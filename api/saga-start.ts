import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { SagaStartMode } from '../config';
import type { RetryPresets } from '../domain/retry-policies';
import type { Language, RunLimits } from '../domain/runtimes';
import { WORKFLOW_NAME } from '../domain/saga';
import type { ExecutionSagaInput } from '../domain/saga';
import { startingSearchAttributes } from '../domain/search-attributes';
import type { Execution } from '../generated/prisma/client';
import { newTraceparent } from '../observability/trace-context';
import type { executionSaga } from '../workflows/execution-saga';

/** What starting a saga takes (config SAGA_RUN_TIMEOUT_MS, SAGA_OUTAGE_PAUSE_MS, SAGA_START_TIMEOUT_MS, SAGA_START). */
export interface SagaStartDeps {
  temporal: Client;
  taskQueue: string;
  retryPresets: RetryPresets;
  saga: { runTimeoutMs: number; outagePauseMs: number; startTimeoutMs: number; start: SagaStartMode };
}

/** The saga input that runs `row`'s script as execution `executionId` (the row's own id: its first start). */
export function sagaInputOf(row: Execution, executionId: string, deps: Pick<SagaStartDeps, 'retryPresets' | 'saga'>): ExecutionSagaInput {
  return {
    executionId,
    ownerId: row.ownerId,
    correlationId: row.correlationId,
    retryOfId: row.retryOfId,
    idempotencyKey: row.idempotencyKey,
    requestHash: row.requestHash,
    traceparent: row.traceparent ?? newTraceparent(),
    language: row.language as Language,
    version: row.languageVersion,
    script: row.script,
    stdin: row.stdin,
    limits: row.limits as unknown as RunLimits,
    ...(row.callbackUrl === null ? {} : { callbackUrl: row.callbackUrl }),
    retryPresets: deps.retryPresets,
    outagePauseMs: deps.saga.outagePauseMs,
  };
}

/**
 * How every saga is started, whoever starts it (a submission, the sweep, a cancel): the execution id is the
 * workflow id, and a second start under it is refused (the saga already started is the one).
 */
export function sagaStartOptions(deps: SagaStartDeps, input: ExecutionSagaInput): WorkflowStartOptions<typeof executionSaga> {
  return {
    workflowId: input.executionId,
    taskQueue: deps.taskQueue,
    args: [input],
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    workflowRunTimeout: deps.saga.runTimeoutMs,
    typedSearchAttributes: startingSearchAttributes(input),
  };
}

/**
 * Starts the saga of `input`, waiting for Temporal at most SAGA_START_TIMEOUT_MS. `already`: a saga under that
 * id exists (running or closed), started by someone else.
 * @throws what the start threw otherwise (Temporal unreachable or too slow, a namespace not set up).
 */
export async function startSaga(deps: SagaStartDeps, input: ExecutionSagaInput): Promise<'started' | 'already'> {
  try {
    await deps.temporal.withDeadline(Date.now() + deps.saga.startTimeoutMs, () => deps.temporal.workflow.start<typeof executionSaga>(WORKFLOW_NAME, sagaStartOptions(deps, input)));
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already';
    throw err;
  }
}

/**
 * The deferred starts (SAGA_START=deferred) this process has set going and not seen end, so that a stopping API
 * lets them finish before it closes its Temporal connection; one cut off would wait for another process's sweep.
 */
export class StartsInFlight {
  private readonly pending = new Set<Promise<unknown>>();

  /** `start` must not reject (startDeferred does not). */
  track(start: Promise<unknown>): void {
    this.pending.add(start);
    const done = () => this.pending.delete(start);
    start.then(done, done);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves once every start tracked until now has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
