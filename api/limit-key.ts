import type { Request, Response } from 'express';
import { principalOf } from './principal';

/** Whose budget a request spends in the shared rate limits: the API key it authenticated with. */
export function limitKeyOf(_req: Request, res: Response): string {
  return principalOf(res).keyId;
}
