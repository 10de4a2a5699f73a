import { Router } from 'express';
import type { Response } from 'express';
import { z } from 'zod';
import { ownerIdSchema } from '../../auth/api-keys';
import type { WebhookSecretService } from '../../webhooks/secrets';
import { HttpError, fieldErrorsOf, validationError } from '../problem';
import { actorOf, principalOf } from '../principal';
import { optionalJsonBody, requestLog } from '../request-parts';

export interface WebhookSecretRoutesDeps {
  secrets: WebhookSecretService;
}

const ownerBodySchema = z.object({ ownerId: ownerIdSchema.optional() }).strict();
const ownerQuerySchema = z.object({ ownerId: ownerIdSchema.optional() }).strict();

/** The owner a request acts for: its key's; an admin key may name another (a user key naming another: 403, `field` says where). */
function ownerFor(res: Response, named: string | undefined, field: string): string {
  const principal = principalOf(res);
  if (named === undefined || named === principal.ownerId) return principal.ownerId;
  if (principal.role !== 'admin') throw new HttpError(403, 'forbidden', 'Forbidden', `${field}: only an admin key may name another owner`, { errors: [{ field, message: 'only an admin key may name another owner' }] });
  return named;
}

/**
 * `/webhook-secret`: the signing secret of an owner's completion webhooks (Standard Webhooks `whsec_…`).
 * `POST` makes one, or rotates it (the old one stops signing at once), and shows it this once; `GET` says
 * whether there is one and since when, never the secret. A user key acts for its own owner; an admin key may name another.
 */
export function webhookSecretRoutes(deps: WebhookSecretRoutesDeps): Router {
  const router = Router();

  router.post('/webhook-secret', async (req, res) => {
    const body = ownerBodySchema.safeParse(optionalJsonBody(req) ?? {});
    if (!body.success) throw validationError(fieldErrorsOf(body.error));
    const ownerId = ownerFor(res, body.data.ownerId, 'ownerId');
    const made = await deps.secrets.rotate(ownerId);
    requestLog(req).info({ actor: actorOf(principalOf(res)), owner_id: ownerId, rotated: made.rotatedAt !== null }, 'webhook secret made');
    res.status(201).json(made);
  });

  router.get('/webhook-secret', async (req, res) => {
    const query = ownerQuerySchema.safeParse(req.query);
    if (!query.success) throw validationError(fieldErrorsOf(query.error, 'query.'));
    const ownerId = ownerFor(res, query.data.ownerId, 'query.ownerId');
    const status = await deps.secrets.status(ownerId);
    res.json(status ? { exists: true, ...status } : { exists: false, ownerId, createdAt: null, rotatedAt: null, keyId: null });
  });

  return router;
}
