import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';
import { WORKFLOW_NAME } from '../domain/saga';

/** A saga Temporal closed while its `ExecutionState` still said queued or running. */
export interface ClosedSaga {
  executionId: string;
  runId: string;
  /** Temporal's close status: TERMINATED, TIMED_OUT, FAILED, … */
  workflowStatus: string;
}

/** Who terminated a workflow and why, from its Terminated history event. */
export interface Termination {
  identity: string | null;
  reason: string | null;
}

/** Where the reconciler learns which sagas closed without recording their end. */
export interface ClosedSagaSource {
  /** Every candidate, newest first, fetched page by page as it is iterated. */
  all(): AsyncIterable<ClosedSaga>;
  terminationOf(saga: ClosedSaga): Promise<Termination>;
}

/**
 * The saga upserts `ExecutionState` at every transition, so a closed workflow still marked queued or
 * running is exactly one that stopped without recording its end: terminated by an operator, past its
 * run timeout, or failed while recording. Temporal's retention bounds the search.
 */
export function closedSagaQuery(taskQueue: string): string {
  return [
    `WorkflowType = '${WORKFLOW_NAME}'`,
    `TaskQueue = '${taskQueue.replaceAll("'", "\\'")}'`,
    `ExecutionStatus != 'Running'`,
    `${SEARCH_ATTRIBUTE_NAMES.status} IN ('queued', 'running')`,
  ].join(' AND ');
}

/** Reads closed sagas of one task queue from Temporal visibility. */
export function temporalClosedSagas(client: Client, taskQueue: string): ClosedSagaSource {
  return {
    async *all() {
      for await (const info of client.workflow.list({ query: closedSagaQuery(taskQueue), pageSize: 500 })) {
        yield { executionId: info.workflowId, runId: info.runId, workflowStatus: info.status.name };
      }
    },
    async terminationOf(saga) {
      const history = await client.workflow.getHandle(saga.executionId, saga.runId).fetchHistory();
      const terminated = history.events?.at(-1)?.workflowExecutionTerminatedEventAttributes;
      return { identity: terminated?.identity || null, reason: terminated?.reason || null };
    },
  };
}
