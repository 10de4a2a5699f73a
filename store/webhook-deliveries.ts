import { v7 as uuidv7 } from 'uuid';
import type { WebhookDelivery } from '../generated/prisma/client';
import type { Db } from './db';

/** The `webhook_deliveries` table: each attempt to deliver an execution's completion webhook, with its outcome. */

export type { WebhookDelivery };

export const WebhookOutcome = {
  delivered: 'delivered',
  /** The attempt failed and will be retried. */
  failed: 'failed',
  /** The last attempt the retry preset allows failed: no more will be made. */
  gave_up: 'gave_up',
  /** The target is not allowed (scheme, address): not sent, not retried. */
  refused: 'refused',
} as const;
export type WebhookOutcome = (typeof WebhookOutcome)[keyof typeof WebhookOutcome];

export interface NewWebhookDelivery {
  executionId: string;
  messageId: string;
  attempt: number;
  outcome: WebhookOutcome;
  statusCode: number | null;
  address: string | null;
  error: string | null;
  durationMs: number;
}

/** Records one attempt; an attempt recorded already (a retried activity that had recorded before failing) is kept as it was. */
export async function recordWebhookDelivery(db: Db, d: NewWebhookDelivery): Promise<void> {
  await db.webhookDelivery.createMany({ data: [{ id: uuidv7(), ...d }], skipDuplicates: true });
}

/** An execution's attempts, oldest first. */
export const deliveriesOf = (db: Db, executionId: string): Promise<WebhookDelivery[]> =>
  db.webhookDelivery.findMany({ where: { executionId }, orderBy: { attempt: 'asc' } });

/** Whether a webhook for this execution was already delivered (a retried activity must not send it twice). */
export async function wasDelivered(db: Db, executionId: string): Promise<boolean> {
  return (await db.webhookDelivery.count({ where: { executionId, outcome: WebhookOutcome.delivered } })) > 0;
}
