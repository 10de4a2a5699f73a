import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from '../payload-codec/keyring';
import type { Db } from '../store/db';
import { findWebhookSecret, upsertWebhookSecret } from '../store/webhook-secrets';
import { generateWebhookSecret } from './signature';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Authenticated data: a secret decrypts only as its own owner's (a row copied to another owner fails). */
const aadOf = (ownerId: string) => Buffer.from(`webhook-secret:${ownerId}`);

/**
 * Encrypts a signing secret with the keyring's newest key (AES-256-GCM): `<key id>:<base64 of iv | ciphertext | tag>`.
 * The signer needs the secret itself, so it is encrypted rather than hashed; the keyring is the payload
 * codec's (`PAYLOAD_CODEC_KEYS`), which the API (which makes secrets) and the worker (which signs) both hold.
 */
export function encryptSecret(keyring: Keyring, ownerId: string, secret: string): string {
  const key = keyring[0];
  if (!key) throw new Error('the keyring is empty');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(ownerId));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return `${key.id}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')}`;
}

/** Decrypts what {@link encryptSecret} wrote; throws naming the key id when the keyring lacks it. */
export function decryptSecret(keyring: Keyring, ownerId: string, stored: string): string {
  const colon = stored.indexOf(':');
  const keyId = stored.slice(0, colon);
  const key = keyring.find((k) => k.id === keyId);
  if (!key) throw new Error(`webhook secret encrypted with key id "${keyId}", which PAYLOAD_CODEC_KEYS does not hold`);
  const raw = Buffer.from(stored.slice(colon + 1), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aadOf(ownerId));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
}

export interface WebhookSecretStatus {
  ownerId: string;
  createdAt: string;
  rotatedAt: string | null;
  /** Codec key id the stored secret is encrypted under. */
  keyId: string;
}

/** Owners' webhook signing secrets: made or rotated (shown once), read back only to sign. */
export function createWebhookSecretService(db: Db, keyring: Keyring) {
  return {
    /** Makes a new secret for the owner, replacing the old one at once; the returned `secret` is shown this once. */
    async rotate(ownerId: string): Promise<WebhookSecretStatus & { secret: string }> {
      const secret = generateWebhookSecret();
      const row = await upsertWebhookSecret(db, ownerId, encryptSecret(keyring, ownerId, secret));
      return { ...statusOf(row), secret };
    },
    /** Whether the owner has a secret, and since when (never the secret). */
    async status(ownerId: string): Promise<WebhookSecretStatus | null> {
      const row = await findWebhookSecret(db, ownerId);
      return row && statusOf(row);
    },
    /** The secret in clear, to sign with; null when the owner has none. */
    async secretOf(ownerId: string): Promise<string | null> {
      const row = await findWebhookSecret(db, ownerId);
      return row && decryptSecret(keyring, ownerId, row.encryptedSecret);
    },
  };
}
export type WebhookSecretService = ReturnType<typeof createWebhookSecretService>;

function statusOf(row: { ownerId: string; createdAt: Date; rotatedAt: Date | null; encryptedSecret: string }): WebhookSecretStatus {
  return { ownerId: row.ownerId, createdAt: row.createdAt.toISOString(), rotatedAt: row.rotatedAt?.toISOString() ?? null, keyId: row.encryptedSecret.slice(0, row.encryptedSecret.indexOf(':')) };
}
