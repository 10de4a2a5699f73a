import type { Client } from '@temporalio/client';
import { SAGA_STATE_QUERY } from '../domain/saga';
import type { SagaState } from '../domain/saga';

/**
 * What the saga is doing now: its step and queue position (workflow query) and the current activity's
 * attempt and last heartbeat (from Temporal's description). Null when the workflow cannot be asked.
 */
export async function liveState(temporal: Client, workflowId: string) {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    const [state, description] = await Promise.all([handle.query<SagaState>(SAGA_STATE_QUERY), handle.describe()]);
    const activity = description.raw.pendingActivities?.[0];
    const heartbeat = activity?.lastHeartbeatTime?.seconds;
    return {
      step: state.step,
      capacityPosition: state.capacityPosition,
      outagePauses: state.outagePauses ?? 0,
      activity: activity?.activityType?.name ?? null,
      attempt: activity?.attempt ?? null,
      lastHeartbeatAt: heartbeat ? new Date(Number(heartbeat) * 1000 + Math.floor((activity?.lastHeartbeatTime?.nanos ?? 0) / 1e6)).toISOString() : null,
    };
  } catch {
    // A saga that just ended or is not yet started answers nothing; the stored status stands on its own.
    return null;
  }
}
