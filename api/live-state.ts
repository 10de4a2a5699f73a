import { QueryNotRegisteredError, WorkflowNotFoundError } from '@temporalio/client';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import { INITIAL_SAGA_STATE, SAGA_STATE_QUERY } from '../domain/saga';
import type { SagaState } from '../domain/saga';

/**
 * How long a GET waits for the saga's live state, ms. A workflow query needs a worker: with none polling
 * (all down, or busy) it would wait tens of seconds, and the stored status is worth answering without it.
 */
export const LIVE_STATE_DEADLINE_MS = 1_000;

/** What {@link liveState} answers; null when the saga could not be asked. */
export type LiveState = Awaited<ReturnType<typeof askTemporal>>;

/**
 * How long one answer of the saga's live state is served to every GET of that execution, ms. A workflow query
 * is a workflow task on the worker: clients polling a running execution every few ms made one each and halved
 * the worker's throughput (bench/). Within this window GETs share one answer; after it, one new query runs
 * (never two at once for an execution) while GETs still get the last answer at once. So a polling client waits
 * on Temporal only for its first GET, and sees live state at most about two seconds old.
 */
export const LIVE_STATE_MAX_AGE_MS = 500;
/** An answer older than this is not served while a new one is asked for: the GET waits for the new one. */
const SERVE_STALE_MS = LIVE_STATE_DEADLINE_MS + 2 * LIVE_STATE_MAX_AGE_MS;

interface Entry {
  /** The query in flight, if any. */
  pending?: Promise<LiveState>;
  /** The last answer and when it came. */
  last?: { value: LiveState; at: number };
}
const recent = new Map<string, Entry>();

function refresh(entry: Entry, temporal: Client, workflowId: string, log: Logger): Promise<LiveState> {
  const pending = askTemporal(temporal, workflowId, log).then((value) => {
    entry.last = { value, at: Date.now() };
    entry.pending = undefined;
    return value;
  });
  entry.pending = pending;
  return pending;
}

/**
 * What the saga is doing now: its step and queue position (workflow query) and the current activity's
 * attempt and last heartbeat (from Temporal's description), shared by GETs within {@link LIVE_STATE_MAX_AGE_MS}.
 * Null when the workflow cannot be asked, with the reason logged: at debug when the saga has just ended or not
 * yet started, as a warning otherwise.
 */
export function liveState(temporal: Client, workflowId: string, log: Logger): Promise<LiveState> {
  const now = Date.now();
  if (recent.size >= 1000) {
    for (const [id, e] of recent) if (!e.pending && (!e.last || now - e.last.at > SERVE_STALE_MS)) recent.delete(id);
  }
  let entry = recent.get(workflowId);
  if (!entry) {
    entry = {};
    recent.set(workflowId, entry);
  }
  const last = entry.last;
  if (last && now - last.at <= LIVE_STATE_MAX_AGE_MS) return Promise.resolve(last.value);
  const pending = entry.pending ?? refresh(entry, temporal, workflowId, log);
  return last && now - last.at <= SERVE_STALE_MS ? Promise.resolve(last.value) : pending;
}

/** The history holds the start and its first workflow task, scheduled and not yet taken by a worker. */
function notYetBegun(description: WorkflowExecutionDescription): boolean {
  const task = description.raw.pendingWorkflowTask;
  return description.historyLength <= 2 && task?.state === proto.api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED;
}

async function askTemporal(temporal: Client, workflowId: string, log: Logger) {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    const deadline = Date.now() + LIVE_STATE_DEADLINE_MS;
    const querying = temporal.connection.withDeadline(deadline, () => handle.query<SagaState>(SAGA_STATE_QUERY));
    // Handled here as well as awaited below: when the description fails first (or makes the query moot),
    // the query's own failure must not surface as an unhandled rejection.
    querying.catch(() => undefined);
    const description = await temporal.connection.withDeadline(deadline, () => handle.describe());
    // No worker has taken the saga's first task yet (none is polling, or all are busy): a query would wait for
    // one, up to the deadline, to learn what is already known — the saga has not begun.
    const state = notYetBegun(description) ? INITIAL_SAGA_STATE : await querying;
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
