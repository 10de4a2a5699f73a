import type { Request, Response } from 'express';
import { ownerOf } from './request-parts';

/** The authenticated caller, as the API-key middleware leaves it in `res.locals.principal`. */
interface Principal {
  keyId: string;
  ownerId: string;
  role: string;
}

/**
 * Whose budget a request spends in the shared rate limits: the API key once keys authenticate requests
 * (`res.locals.principal`), until then the owner the request names.
 */
export function limitKeyOf(req: Request, res: Response): string {
  const principal = res.locals.principal as Principal | undefined;
  return principal?.keyId ?? ownerOf(req);
}
