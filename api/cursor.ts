import { idSchema } from './request-parts';
import { validationError } from './problem';

export interface CursorPosition {
  createdAt: Date;
  id: string;
}

/** Keyset cursor over (createdAt desc, id desc): stable while new executions arrive. */
export const encodeCursor = (e: CursorPosition) => Buffer.from(`${e.createdAt.toISOString()}|${e.id}`).toString('base64url');

export function decodeCursor(cursor: string): CursorPosition {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !idSchema.safeParse(id).success || Number.isNaN(createdAt.getTime())) throw validationError([{ field: 'cursor', message: 'is not a cursor this API returned' }]);
  return { createdAt, id };
}

/** The Prisma `where` part selecting rows after a keyset position (createdAt desc, id desc); empty for the first page. */
export function afterPosition(after: CursorPosition | null) {
  return after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {};
}
