import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { countApiKeys, findApiKeyByPrefix, insertApiKey, listApiKeys, revokeApiKey, touchApiKey } from '../store/api-keys';
import type { ApiKey, ApiKeyRole } from '../store/api-keys';
import type { Db } from '../store/db';
import type { ApiKeyCache } from './key-cache';

// API keys: `eo_<prefix>_<secret>`. The prefix is public (it names the key in lists, logs and audit rows);
// the secret is 256 random bits, shown once and kept only as its SHA-256 — a fast hash is enough for a
// secret that cannot be guessed, and it keeps authentication to one indexed read.

export const API_KEY_ROLES = ['user', 'admin'] as const satisfies readonly ApiKeyRole[];

/** Who owns executions: 1-128 characters of A-Z a-z 0-9 . _ : @ - */
export const OWNER_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
export const ownerIdSchema = z.string().regex(OWNER_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
export const keyPrefixSchema = z.string().regex(/^[0-9a-f]{10}$/, 'must be a key prefix: 10 hex digits');
export const keyNameSchema = z.string().min(1).max(200);

const TOKEN = /^eo_([0-9a-f]{10})_([A-Za-z0-9_-]{43})$/;
/** A key's last use is written at most this often, ms. */
export const LAST_USED_GRANULARITY_MS = 60_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A new key's parts; `token` is what the holder sends, the rest is what is stored. */
export function newKeyMaterial(): { prefix: string; token: string; secretHash: string } {
  const prefix = randomBytes(5).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { prefix, token: `eo_${prefix}_${secret}`, secretHash: sha256(secret) };
}

/** The prefix and secret of a well-formed token, else null. */
export function parseToken(token: string): { prefix: string; secret: string } | null {
  const match = TOKEN.exec(token);
  return match ? { prefix: match[1]!, secret: match[2]! } : null;
}

export interface NewKeyRequest {
  ownerId: string;
  role: ApiKeyRole;
  name?: string | null;
}

/** What lists and the create answer show of a key (never its secret or hash). */
export function apiKeyView(key: ApiKey) {
  return {
    prefix: key.prefix,
    ownerId: key.ownerId,
    role: key.role,
    name: key.name,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/**
 * Creating, listing, revoking and checking API keys; used by the API, `npm run keys` and `npm start`. With a
 * `cache` (the API's), authentication reads a key from Postgres once per API_KEY_CACHE_SECONDS, not per request.
 */
export function createApiKeyService(db: Db, cache?: ApiKeyCache) {
  const findKey = (prefix: string) => (cache ? cache.lookup(prefix, (p) => findApiKeyByPrefix(db, p)) : findApiKeyByPrefix(db, prefix));
  return {
    /** Creates a key; the token in the answer is the only time the secret exists outside its holder. */
    async create(request: NewKeyRequest): Promise<{ key: ApiKey; token: string }> {
      const owner = ownerIdSchema.parse(request.ownerId);
      for (let attempt = 0; ; attempt++) {
        const { prefix, token, secretHash } = newKeyMaterial();
        try {
          const key = await insertApiKey(db, { id: uuidv7(), prefix, secretHash, ownerId: owner, role: request.role, name: request.name ?? null });
          return { key, token };
        } catch (err) {
          // A prefix collision (40 random bits) is retried with new material; anything else is not ours to hide.
          if ((err as { code?: string }).code !== 'P2002' || attempt >= 3) throw err;
        }
      }
    },

    list: () => listApiKeys(db),

    count: () => countApiKeys(db),

    /** Revokes the key with this prefix (idempotent); null when there is none. */
    async revoke(prefix: string): Promise<ApiKey | null> {
      const key = await revokeApiKey(db, prefix);
      cache?.forget(prefix); // other replicas hear the trigger's notification
      return key;
    },

    /**
     * The key a bearer token names, if the token is well formed, its secret matches and the key is not
     * revoked; null otherwise. Records the use (at most once a {@link LAST_USED_GRANULARITY_MS}).
     */
    async authenticate(token: string, now = new Date()): Promise<ApiKey | null> {
      const parts = parseToken(token);
      if (!parts) return null;
      const key = await findKey(parts.prefix);
      if (!key || key.revokedAt) return null;
      if (!timingSafeEqual(Buffer.from(sha256(parts.secret), 'hex'), Buffer.from(key.secretHash, 'hex'))) return null;
      const notBefore = new Date(now.getTime() - LAST_USED_GRANULARITY_MS);
      if (!key.lastUsedAt || key.lastUsedAt < notBefore) {
        await touchApiKey(db, key.id, now, notBefore);
        key.lastUsedAt = now; // the cached row too: its next requests need not write it again
      }
      return key;
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
