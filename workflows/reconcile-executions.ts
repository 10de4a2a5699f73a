import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { toTemporalRetryPolicy } from '../domain/retry-policies';
import type { ReconcileInput, ReconcileSummary } from '../domain/saga';

/**
 * One reconciler pass, started by the reconciler schedule (reconciler/schedule.ts): records the end of
 * every saga Temporal closed without recording one, and frees its capacity. Visible in the Temporal UI
 * beside the sagas it repaired.
 */
export async function reconcileExecutions(input: ReconcileInput): Promise<ReconcileSummary> {
  const { reconcileClosedSagas } = proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '30 seconds',
    retry: toTemporalRetryPolicy(input.retryPresets.default),
  });
  return reconcileClosedSagas();
}
