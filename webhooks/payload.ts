import type { Execution } from '../generated/prisma/client';

/** The body of a completion webhook (Standard Webhooks' recommended `type` / `timestamp` / `data` shape). */
export interface CompletionWebhookBody {
  /** `execution.<status>`, e.g. `execution.completed`, `execution.cancelled`. */
  type: string;
  /** When the execution ended (ISO 8601). */
  timestamp: string;
  data: {
    id: string;
    status: string;
    ownerId: string;
    language: string;
    correlationId: string;
    exitCode: number | null;
    signal: string | null;
    errorType: string | null;
    errorMessage: string | null;
    stdout: string | null;
    stdoutTruncated: boolean;
    stderr: string | null;
    stderrTruncated: boolean;
    wallTimeMs: number | null;
    createdAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    links: { self: string };
  };
}

/** The webhook body for an ended execution. */
export function completionBody(e: Execution): CompletionWebhookBody {
  return {
    type: `execution.${e.status}`,
    timestamp: (e.finishedAt ?? e.updatedAt).toISOString(),
    data: {
      id: e.id,
      status: e.status,
      ownerId: e.ownerId,
      language: e.language,
      correlationId: e.correlationId,
      exitCode: e.exitCode,
      signal: e.signal,
      errorType: e.errorType,
      errorMessage: e.errorMessage,
      stdout: e.stdout,
      stdoutTruncated: e.stdoutTruncated,
      stderr: e.stderr,
      stderrTruncated: e.stderrTruncated,
      wallTimeMs: e.wallTimeMs,
      createdAt: e.createdAt.toISOString(),
      startedAt: e.startedAt?.toISOString() ?? null,
      finishedAt: e.finishedAt?.toISOString() ?? null,
      links: { self: `/api/v1/executions/${e.id}` },
    },
  };
}

/** The `webhook-id` of an execution's completion message: the same on every attempt, so receivers can de-duplicate. */
export const completionMessageId = (executionId: string) => `msg_${executionId}`;
