import type { KeysetPosition as CursorPosition } from '../store/pagination';
import { idSchema } from './request-parts';
import { validationError } from './problem';

/** Keyset cursor over (createdAt desc, id desc): stable while new executions arrive. */
export const encodeCursor = (e: CursorPosition) => Buffer.from(`${e.createdAt.toISOString()}|${e.id}`).toString('base64url');

export function decodeCursor(cursor: string): CursorPosition {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !idSchema.safeParse(id).success || Number.isNaN(createdAt.getTime())) throw validationError([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  return { createdAt, id };
}
