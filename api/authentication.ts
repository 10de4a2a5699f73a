import type { RequestHandler } from 'express';
import type { ApiKeyService } from '../auth/api-keys';
import { coerceError } from '../observability/logger';
import { HttpError } from './problem';
import { requestLog } from './request-parts';
import { principalOf, setPrincipal } from './principal';
import { timed } from '../observability/request-timing';

/** Retry-After of a 503 when keys cannot be checked, s. */
const RETRY_AFTER_S = 5;
const REALM = 'Bearer realm="execution-orchestrator"';

const unauthorized = (detail: string, invalid: boolean) =>
  new HttpError(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': invalid ? `${REALM}, error="invalid_token"` : REALM });

/**
 * Requires `Authorization: Bearer <API key>`: no key → 401, an unknown, malformed or revoked key → 401 (both
 * with `WWW-Authenticate: Bearer`). Sets the request's principal (api/principal.ts).
 */
export function authenticate(keys: ApiKeyService): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('Authorization');
    if (header === undefined) throw unauthorized('an API key is required: Authorization: Bearer <key>', false);
    const match = /^Bearer +(\S+)$/i.exec(header);
    const key = match
      ? await timed('auth', () => keys.authenticate(match[1]!)).catch((err: unknown) => {
          requestLog(req).warn({ err: coerceError(err) }, 'API key check failed: the database does not answer');
          throw keyUncheckable();
        })
      : null;
    if (!key) throw unauthorized('the API key is not valid (unknown, malformed or revoked)', true);
    setPrincipal(res, { keyId: key.id, prefix: key.prefix, ownerId: key.ownerId, role: key.role });
    next();
  };
}

/** The key store does not answer (Postgres down): nothing can be served, and the client may come back. */
const keyUncheckable = () =>
  new HttpError(503, 'unavailable', 'Service Unavailable', 'the API key cannot be checked now: the database does not answer', {}, { 'Retry-After': String(RETRY_AFTER_S) });

/** Admin keys only: a user key → 403. */
export const requireAdmin: RequestHandler = (_req, res, next) => {
  if (principalOf(res).role !== 'admin') throw new HttpError(403, 'forbidden', 'Forbidden', 'this route needs an admin key');
  next();
};
