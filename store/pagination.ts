/** A keyset position over (createdAt desc, id desc): stable while new rows arrive. */
export interface KeysetPosition {
  createdAt: Date;
  id: string;
}

/** The Prisma `where` part selecting rows after a keyset position (createdAt desc, id desc); empty for the first page. */
export function afterPosition(after: KeysetPosition | null) {
  return after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {};
}

/** Newest first, with the id breaking ties: the order {@link afterPosition} continues. */
export const newestFirst = [{ createdAt: 'desc' as const }, { id: 'desc' as const }];

/** One page of `limit` rows read as `limit + 1`, and whether more follow. */
export function pageOf<T>(rows: T[], limit: number): { items: T[]; last: T | undefined; more: boolean } {
  const items = rows.slice(0, limit);
  return { items, last: items.at(-1), more: rows.length > limit };
}
