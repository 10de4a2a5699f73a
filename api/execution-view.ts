import { z } from 'zod';
import { ErrorType, ExecutionStatus } from '../domain/execution-status';
import { LANGUAGES } from '../domain/runtimes';
import type { Language } from '../domain/runtimes';
import type { Execution, WebhookDelivery } from '../generated/prisma/client';

const nullableInt = z.number().int().nullable();
const isoDate = z.iso.datetime();

/** The REST representation of an execution: the view renders it, the OpenAPI document is generated from it. */
export const executionViewSchema = z.object({
  id: z.uuid(),
  status: z.enum(ExecutionStatus),
  ownerId: z.string(),
  language: z.enum(LANGUAGES),
  version: z.string(),
  limits: z.record(z.string(), z.unknown()),
  retryOf: z.uuid().nullable(),
  correlationId: z.string(),
  workflowId: z.string(),
  result: z
    .object({
      exitCode: nullableInt,
      signal: z.string().nullable(),
      stdout: z.string().nullable(),
      stdoutTruncated: z.boolean(),
      stderr: z.string().nullable(),
      stderrTruncated: z.boolean(),
      wallTimeMs: nullableInt,
      cpuTimeMs: nullableInt,
      peakMemoryKb: nullableInt,
      oomKilled: z.boolean().nullable().describe('the kernel OOM-killed a process of the run'),
      sandboxed: z.boolean().nullable().describe('false when the run was not sandboxed (RUNNER_SANDBOX=none)'),
      errorType: z.enum(ErrorType).nullable(),
      errorMessage: z.string().nullable(),
    })
    .describe('null fields until the run ends'),
  createdAt: isoDate,
  startedAt: isoDate.nullable(),
  finishedAt: isoDate.nullable(),
  callbackUrl: z.string().nullable().describe('where the completion webhook goes; null: none'),
  links: z.object({ self: z.string() }),
});
export type ExecutionView = z.infer<typeof executionViewSchema>;

/** The REST representation of an execution. */
export function executionView(e: Execution): ExecutionView {
  return {
    id: e.id,
    status: e.status,
    ownerId: e.ownerId,
    language: e.language as Language,
    version: e.languageVersion,
    limits: e.limits as Record<string, unknown>,
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
      oomKilled: e.oomKilled,
      sandboxed: e.sandboxed,
      errorType: e.errorType as ErrorType | null,
      errorMessage: e.errorMessage,
    },
    createdAt: e.createdAt.toISOString(),
    startedAt: e.startedAt?.toISOString() ?? null,
    finishedAt: e.finishedAt?.toISOString() ?? null,
    callbackUrl: e.callbackUrl,
    links: { self: `/api/v1/executions/${e.id}` },
  };
}

/** One attempt at the completion webhook, as `GET /executions/{id}` (`webhook.deliveries`) and `…/events` show it. */
export const webhookDeliveryViewSchema = z.object({
  attempt: z.number().int(),
  outcome: z.enum(['delivered', 'failed', 'gave_up', 'refused']),
  statusCode: nullableInt,
  address: z.string().nullable().describe('the address connected to, from the one DNS resolution'),
  error: z.string().nullable(),
  durationMs: z.number().int(),
  at: isoDate,
  webhookId: z.string(),
});

/** The completion webhook of an execution and its attempts; null when it asked for none (and has no attempts). */
export function webhookView(callbackUrl: string | null, deliveries: readonly WebhookDelivery[]) {
  if (callbackUrl === null && deliveries.length === 0) return null;
  const items = deliveries.map((d) => ({
    attempt: d.attempt,
    outcome: d.outcome as z.infer<typeof webhookDeliveryViewSchema>['outcome'],
    statusCode: d.statusCode,
    address: d.address,
    error: d.error,
    durationMs: d.durationMs,
    at: d.at.toISOString(),
    webhookId: d.messageId,
  }));
  const last = items.at(-1);
  return { callbackUrl, state: last?.outcome ?? 'pending', deliveries: items };
}
