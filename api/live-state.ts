import { QueryNotRegisteredError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import { SAGA_STATE_QUERY } from '../domain/saga';
import type { SagaState } from '../domain/saga';

/**
 * How long a GET waits for the saga's live state, ms. A workflow query needs a worker: with none polling
 * (all down, or busy) it would wait tens of seconds, and the stored status is worth answering without it.
 */
export const LIVE_STATE_DEADLINE_MS = 1_000;

/**
 * What the saga is doing now: its step and queue position (workflow query) and the current activity's
 * attempt and last heartbeat (from Temporal's description). Null when the workflow cannot be asked, with the
 * reason logged: at debug when the saga has just ended or not yet started, as a warning otherwise.
 */
export async function liveState(temporal: Client, workflowId: string, log: Logger) {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    const [state, description] = await temporal.connection.withDeadline(Date.now() + LIVE_STATE_DEADLINE_MS, () =>
      Promise.all([handle.query<SagaState>(SAGA_STATE_QUERY), handle.describe()]),
    );
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
  } catch (err) {
    // The stored status stands on its own: the answer carries `live: null` rather than failing.
    const error = coerceError(err);
    if (err instanceof WorkflowNotFoundError || err instanceof QueryNotRegisteredError) {
      log.debug({ workflow_id: workflowId, reason: error.message }, 'live state unavailable: the saga has ended or not yet started');
    } else {
      log.warn({ workflow_id: workflowId, reason: error.message, err: error }, 'live state unavailable: Temporal or the saga\'s worker did not answer in time');
    }
    return null;
  }
}
