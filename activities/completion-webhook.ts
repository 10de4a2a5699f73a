import { Context } from '@temporalio/activity';
import type { Logger } from '../observability/logger';
import type { WorkerMetrics } from '../observability/metrics';
import type { Db } from '../store/db';
import { getExecution } from '../store/executions';
import { WebhookOutcome, recordWebhookDelivery, wasDelivered } from '../store/webhook-deliveries';
import { completionBody, completionMessageId } from '../webhooks/payload';
import type { WebhookSender } from '../webhooks/sender';
import { signWebhook } from '../webhooks/signature';

export interface WebhookDeps {
  db: Db;
  log: Logger;
  sender: WebhookSender;
  /** The owner's signing secret in clear; null when the owner has none. */
  secretOf(ownerId: string): Promise<string | null>;
  metrics?: Pick<WorkerMetrics, 'webhookAttempts' | 'webhookDuration'>;
}

export interface CompletionWebhookInput {
  executionId: string;
  callbackUrl: string;
  /** Attempts the retry preset allows: the last one that fails is recorded as `gave_up`. */
  maximumAttempts: number;
}

/** The completion-webhook activity; its attempts are rows of `webhook_deliveries`, shown on the execution. */
export function createWebhookActivities(deps: WebhookDeps) {
  return {
    /**
     * POSTs the signed completion webhook of an ended execution, recording the attempt and its outcome. A
     * 2xx answer delivers it; a refused target (scheme, address) or an owner without a secret is recorded and
     * not retried; anything else throws (retried by the `webhook` preset) until the last attempt, recorded as `gave_up`.
     */
    async deliverCompletionWebhook(input: CompletionWebhookInput): Promise<WebhookOutcome> {
      const { attempt } = Context.current().info;
      const log = deps.log.child({ execution_id: input.executionId, activity: 'deliverCompletionWebhook', attempt });
      // A retry after a crash between the answer and the end of the activity must not send it again.
      if (await wasDelivered(deps.db, input.executionId)) return WebhookOutcome.delivered;
      const execution = await getExecution(deps.db, input.executionId);
      const messageId = completionMessageId(execution.id);
      const record = (outcome: WebhookOutcome, fields: { statusCode?: number | null; address?: string | null; error?: string | null; durationMs: number }) => {
        deps.metrics?.webhookAttempts.inc({ outcome });
        if (outcome !== WebhookOutcome.refused) deps.metrics?.webhookDuration.observe({ outcome }, fields.durationMs / 1000); // refused: nothing was sent
        return recordWebhookDelivery(deps.db, { executionId: execution.id, messageId, attempt, outcome, statusCode: fields.statusCode ?? null, address: fields.address ?? null, error: fields.error ?? null, durationMs: fields.durationMs });
      };

      const secret = await deps.secretOf(execution.ownerId);
      if (secret === null) {
        await record(WebhookOutcome.refused, { error: `owner ${execution.ownerId} has no webhook secret`, durationMs: 0 });
        log.warn({ owner_id: execution.ownerId }, 'completion webhook refused: the owner has no webhook secret');
        return WebhookOutcome.refused;
      }
      const body = JSON.stringify(completionBody(execution));
      const headers = signWebhook(secret, messageId, Math.floor(Date.now() / 1000), body);
      const began = performance.now();
      const result = await deps.sender.send(input.callbackUrl, { ...headers }, body);
      const durationMs = Math.round(performance.now() - began);

      if (result.kind === 'refused') {
        await record(WebhookOutcome.refused, { error: result.reason, durationMs });
        log.warn({ reason: result.reason }, 'completion webhook refused: target not allowed');
        return WebhookOutcome.refused;
      }
      if (result.kind === 'answered' && result.statusCode >= 200 && result.statusCode < 300) {
        await record(WebhookOutcome.delivered, { statusCode: result.statusCode, address: result.address, durationMs });
        log.info({ status_code: result.statusCode, duration_ms: durationMs }, 'completion webhook delivered');
        return WebhookOutcome.delivered;
      }
      const error = result.kind === 'answered' ? `answered ${result.statusCode}` : result.error;
      const statusCode = result.kind === 'answered' ? result.statusCode : null;
      if (attempt >= input.maximumAttempts) {
        await record(WebhookOutcome.gave_up, { statusCode, address: result.address, error, durationMs });
        log.warn({ error, status_code: statusCode }, 'completion webhook not delivered: last attempt failed');
        return WebhookOutcome.gave_up;
      }
      await record(WebhookOutcome.failed, { statusCode, address: result.address, error, durationMs });
      log.info({ error, status_code: statusCode }, 'completion webhook attempt failed; will retry');
      throw new Error(`completion webhook attempt ${attempt} failed: ${error}`);
    },
  };
}
