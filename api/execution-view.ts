import type { Execution } from '../generated/prisma/client';

/** The REST representation of an execution. */
export function executionView(e: Execution) {
  return {
    id: e.id,
    status: e.status,
    ownerId: e.ownerId,
    language: e.language,
    version: e.languageVersion,
    limits: e.limits,
    retryOf: e.retryOfId,
    correlationId: e.correlationId,
    workflowId: e.workflowId,
    result: {
      exitCode: e.exitCode,
      signal: e.signal,
      stdout: e.stdout,
      stdoutTruncated: e.stdoutTruncated,
      stderr: e.stderr,
      stderrTruncated: e.stderrTruncated,
      wallTimeMs: e.wallTimeMs,
      cpuTimeMs: e.cpuTimeMs,
      peakMemoryKb: e.peakMemoryKb,
      errorType: e.errorType,
      errorMessage: e.errorMessage,
    },
    createdAt: e.createdAt.toISOString(),
    startedAt: e.startedAt?.toISOString() ?? null,
    finishedAt: e.finishedAt?.toISOString() ?? null,
    links: { self: `/api/v1/executions/${e.id}` },
  };
}
