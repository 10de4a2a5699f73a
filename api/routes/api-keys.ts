import { Router } from 'express';
import { z } from 'zod';
import { API_KEY_ROLES, apiKeyView, keyNameSchema, keyPrefixSchema, ownerIdSchema } from '../../auth/api-keys';
import type { ApiKeyService } from '../../auth/api-keys';
import { fieldErrorsOf, notFound, validationError } from '../problem';
import { actorOf, principalOf } from '../principal';
import { requestLog, requiredJsonBody } from '../request-parts';

export interface ApiKeyRoutesDeps {
  keys: ApiKeyService;
}

export const createKeyBodySchema = z.object({ ownerId: ownerIdSchema, role: z.enum(API_KEY_ROLES).default('user'), name: keyNameSchema.optional() }).strict();

/** `/keys` (admin only, gated where the app mounts it): create (the key shown once), list, revoke. */
export function apiKeyRoutes(deps: ApiKeyRoutesDeps): Router {
  const router = Router();
  const { keys } = deps;

  router.get('/keys', async (_req, res) => {
    res.json({ items: (await keys.list()).map(apiKeyView) });
  });

  router.post('/keys', async (req, res) => {
    const body = createKeyBodySchema.safeParse(requiredJsonBody(req));
    if (!body.success) throw validationError(fieldErrorsOf(body.error));
    const { key, token } = await keys.create(body.data);
    requestLog(req).info({ actor: actorOf(principalOf(res)), key_prefix: key.prefix, owner_id: key.ownerId, role: key.role }, 'api key created');
    res.status(201).location(`/api/v1/keys/${key.prefix}`).json({ ...apiKeyView(key), key: token });
  });

  router.post('/keys/:prefix/revoke', async (req, res) => {
    const prefix = keyPrefixSchema.safeParse(req.params.prefix);
    if (!prefix.success) throw validationError([{ field: 'prefix', message: 'must be a key prefix: 10 hex digits' }]);
    const key = await keys.revoke(prefix.data);
    if (!key) throw notFound(`API key ${prefix.data}`);
    requestLog(req).info({ actor: actorOf(principalOf(res)), key_prefix: key.prefix }, 'api key revoked');
    res.json(apiKeyView(key));
  });

  return router;
}
