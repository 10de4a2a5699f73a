import type { WebhookSecret } from '../generated/prisma/client';
import type { Db } from './db';

/** The `webhook_secrets` table: one signing secret per owner, encrypted (webhooks/secrets.ts). */

export type { WebhookSecret };

/** Sets the owner's secret, replacing any earlier one (a rotation: `rotated_at` is set). */
export async function upsertWebhookSecret(db: Db, ownerId: string, encryptedSecret: string, at = new Date()): Promise<WebhookSecret> {
  return db.webhookSecret.upsert({
    where: { ownerId },
    create: { ownerId, encryptedSecret, createdAt: at },
    update: { encryptedSecret, rotatedAt: at },
  });
}

export const findWebhookSecret = (db: Db, ownerId: string): Promise<WebhookSecret | null> => db.webhookSecret.findUnique({ where: { ownerId } });

/** Owners whose secret is encrypted under the given codec key id (to re-encrypt before that key is dropped). */
export async function webhookSecretsUnderKey(db: Db, keyId: string): Promise<string[]> {
  const rows = await db.webhookSecret.findMany({ where: { encryptedSecret: { startsWith: `${keyId}:` } }, select: { ownerId: true } });
  return rows.map((r) => r.ownerId);
}
