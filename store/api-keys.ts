import { Prisma, type ApiKey, type ApiKeyRole } from '../generated/prisma/client';
import { queryRows, type Db } from './db';

/** The `api_keys` table: bearer credentials, kept as a hash of their secret. */

export type { ApiKey, ApiKeyRole };

export interface NewApiKey {
  id: string;
  prefix: string;
  secretHash: string;
  ownerId: string;
  role: ApiKeyRole;
  name: string | null;
}

export const insertApiKey = (db: Db, key: NewApiKey): Promise<ApiKey> => db.apiKey.create({ data: key });

/** Every authenticated request reads its key: one raw query, none of Prisma's per-query compiling. */
export async function findApiKeyByPrefix(db: Db, prefix: string): Promise<ApiKey | null> {
  const [key] = await queryRows<ApiKey>(db, Prisma.sql`
    SELECT id::text AS "id", prefix, secret_hash AS "secretHash", owner_id AS "ownerId", role::text AS "role", name,
           created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"
      FROM api_keys WHERE prefix = ${prefix}`);
  return key ?? null;
}

/** Every key, revoked ones included, newest first. */
export const listApiKeys = (db: Db): Promise<ApiKey[]> => db.apiKey.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });

export const countApiKeys = (db: Db): Promise<number> => db.apiKey.count();

/** Marks a key revoked (once: a second revoke keeps the first time). Null when no key has the prefix. */
export async function revokeApiKey(db: Db, prefix: string, at = new Date()): Promise<ApiKey | null> {
  await db.apiKey.updateMany({ where: { prefix, revokedAt: null }, data: { revokedAt: at } });
  return findApiKeyByPrefix(db, prefix);
}

/** Records a use; skipped (no write) when the key was already marked used after `notBefore`. */
export async function touchApiKey(db: Db, id: string, now: Date, notBefore: Date): Promise<void> {
  await db.apiKey.updateMany({ where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: notBefore } }] }, data: { lastUsedAt: now } });
}
