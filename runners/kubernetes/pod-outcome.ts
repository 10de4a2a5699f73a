import type { V1Pod } from '@kubernetes/client-node';
import { signalName } from '../local/signals';
import type { RunTermination } from '../runner';
import { CONTAINER_NAME } from './pod-spec';

/** How a finished pod ended, read from its status alone. */
export interface PodOutcome {
  termination: RunTermination;
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  /** The container's termination message: its stderr (the kubelet keeps at most 4096 bytes). */
  message: string;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The kubelet's cap on a termination message, bytes. */
export const TERMINATION_MESSAGE_BYTES = 4096;

/** True once the pod has ended (Succeeded or Failed). */
export function podFinished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** A pod that failed before its container ran (image not pullable, config error) never ends on its own: a system error, not the script's. */
export function podStuckReason(pod: V1Pod): string | null {
  const waiting = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state?.waiting;
  if (!waiting?.reason) return null;
  return ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'].includes(waiting.reason)
    ? `${waiting.reason}: ${waiting.message ?? ''}`.trim()
    : null;
}

/**
 * The outcome of a finished pod: DeadlineExceeded (the kubelet's activeDeadlineSeconds) → `wall_timeout`; the
 * container OOMKilled → `memory_limit`; evicted for ephemeral storage (the size-capped emptyDirs) → `file_limit`,
 * for memory → `memory_limit`; otherwise the container's exit code (128 + N is reported as signal N, as the
 * local runner does).
 */
export function podOutcome(pod: V1Pod): PodOutcome {
  const status = pod.status ?? {};
  const terminated = status.containerStatuses?.find((c) => c.name === CONTAINER_NAME)?.state?.terminated;
  const code = terminated?.exitCode ?? null;
  const { exitCode, signal } = code !== null && code > 128 && code <= 128 + 64 ? { exitCode: null, signal: signalName(code - 128) } : { exitCode: code, signal: null };
  const oomKilled = terminated?.reason === 'OOMKilled';
  const base = {
    exitCode,
    signal,
    oomKilled,
    message: terminated?.message ?? '',
    startedAt: terminated?.startedAt ? new Date(terminated.startedAt) : status.startTime ? new Date(status.startTime) : null,
    finishedAt: terminated?.finishedAt ? new Date(terminated.finishedAt) : null,
  };
  const reason = status.reason ?? '';
  const message = (status.message ?? '').toLowerCase();
  if (reason === 'DeadlineExceeded') return { ...base, termination: 'wall_timeout' };
  if (oomKilled) return { ...base, termination: 'memory_limit' };
  if (reason === 'Evicted') {
    if (message.includes('ephemeral') || message.includes('emptydir')) return { ...base, termination: 'file_limit' };
    if (message.includes('memory')) return { ...base, termination: 'memory_limit' };
    return { ...base, termination: 'killed' };
  }
  return { ...base, termination: 'exited' };
}
