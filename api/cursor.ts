import type { KeysetPosition as CursorPosition } from '../store/pagination';
import { validationError } from './problem';

/**
 * A keyset cursor: `<createdAt in epoch ms>_<id>`. Every value of this syntax is a position (the document gives
 * the pattern, so a client or a fuzzer can tell a cursor from a typo); clients should still treat it as opaque.
 */
export const CURSOR_PATTERN = /^([0-9]{1,15})_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

/** Keyset cursor over (createdAt desc, id desc): stable while new executions arrive. */
export const encodeCursor = (e: CursorPosition) => `${e.createdAt.getTime()}_${e.id}`;

export function decodeCursor(cursor: string): CursorPosition {
  const match = CURSOR_PATTERN.exec(cursor);
  if (!match) throw validationError([{ field: 'query.cursor', message: 'is not a cursor this API returned' }]);
  return { createdAt: new Date(Number(match[1])), id: match[2]!.toLowerCase() };
}
