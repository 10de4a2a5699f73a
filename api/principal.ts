import type { Response } from 'express';

/**
 * Who a request acts as: the API key it authenticated with. Set by `authenticate` (api/authentication.ts) on
 * `res.locals.principal` for every `/api/v1` route and `/metrics`; read it through {@link principalOf}.
 */
export interface Principal {
  keyId: string;
  /** The key's public prefix. */
  prefix: string;
  /** Owner of what the key submits; a user key sees only this owner's executions. */
  ownerId: string;
  role: 'user' | 'admin';
}

export function setPrincipal(res: Response, principal: Principal): void {
  res.locals.principal = principal;
}

/** The request's principal. Throws when the route is not behind `authenticate` (a wiring mistake, a 500). */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error('no principal: this route is not behind authenticate()');
  return principal;
}

/** The actor recorded in audit rows for what a principal does: its key, never anything the client claims. */
export const actorOf = (principal: Principal): string => `key:${principal.prefix}`;

/** The owner whose executions a principal may see and act on; null (all of them) for an admin. */
export const ownerScopeOf = (principal: Principal): string | null => (principal.role === 'admin' ? null : principal.ownerId);
