import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Client, ScheduleOptionsStartWorkflowAction, ScheduleSpec } from '@temporalio/client';
import { RECONCILE_WORKFLOW_NAME } from '../domain/saga';
import type { ReconcileInput } from '../domain/saga';
import type { reconcileExecutions } from '../workflows/reconcile-executions';

export interface ReconcilerScheduleOptions {
  taskQueue: string;
  /** Time between passes, ms. */
  intervalMs: number;
  input: ReconcileInput;
}

/** One schedule per task queue, so deployments (and test runs) sharing a namespace stay apart. */
export function reconcilerScheduleId(taskQueue: string): string {
  return `execution-reconciler:${taskQueue}`;
}

/**
 * Creates the reconciler's Temporal schedule, or brings an existing one up to this worker's config.
 * Every worker calls it at start; passes never overlap (a pass still running skips the next).
 */
export async function ensureReconcilerSchedule(client: Client, options: ReconcilerScheduleOptions): Promise<void> {
  const scheduleId = reconcilerScheduleId(options.taskQueue);
  const spec: ScheduleSpec = { intervals: [{ every: options.intervalMs }] };
  const action: ScheduleOptionsStartWorkflowAction<typeof reconcileExecutions> = {
    type: 'startWorkflow',
    workflowType: RECONCILE_WORKFLOW_NAME,
    workflowId: scheduleId,
    taskQueue: options.taskQueue,
    args: [options.input],
  };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: options.intervalMs };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, ...policies } }));
  }
}

/** Removes a task queue's reconciler schedule (a decommissioned deployment, a finished test run); absent is fine. */
export async function deleteReconcilerSchedule(client: Client, taskQueue: string): Promise<void> {
  try {
    await client.schedule.getHandle(reconcilerScheduleId(taskQueue)).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}
