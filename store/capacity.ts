import type { Db, Tx } from './db';

export interface CapacityLimits {
  global: number;
  perOwner: number;
  perLanguage: number;
}

export interface ReservationRequest {
  executionId: string;
  ownerId: string;
  language: string;
}

export interface Reservation {
  /** The execution holds a slot. */
  granted: boolean;
  /** Waiting executions ahead of this one (by arrival), when not granted. */
  position: number | null;
}

// One advisory lock serializes the queue across workers, so counts and grants cannot race.
const CAPACITY_LOCK_KEY = 0x0e0c_0001;

const lockQueue = (tx: Tx) => tx.$executeRaw`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK_KEY}::bigint)`;

/**
 * Grants free slots to waiting executions in fair order — round robin over owners: the owner served longest
 * ago (or never) first, then the one holding fewest slots, then by arrival — so one owner's burst cannot
 * starve another. Returns the execution ids granted.
 */
async function grantInFairOrder(tx: Tx, limits: CapacityLimits): Promise<string[]> {
  const granted: string[] = [];
  for (;;) {
    const holding = await tx.capacityReservation.count({ where: { state: 'holding' } });
    if (holding >= limits.global) break;
    const [next] = await tx.$queryRaw<Array<{ execution_id: string; owner_id: string }>>`
      WITH held_by_owner AS (SELECT owner_id, count(*) AS n FROM capacity_reservations WHERE state = 'holding' GROUP BY owner_id),
           held_by_language AS (SELECT language, count(*) AS n FROM capacity_reservations WHERE state = 'holding' GROUP BY language)
      SELECT w.execution_id::text, w.owner_id
        FROM capacity_reservations w
        LEFT JOIN held_by_owner ho ON ho.owner_id = w.owner_id
        LEFT JOIN held_by_language hl ON hl.language = w.language
        LEFT JOIN capacity_owners o ON o.owner_id = w.owner_id
       WHERE w.state = 'waiting'
         AND coalesce(ho.n, 0) < ${limits.perOwner}
         AND coalesce(hl.n, 0) < ${limits.perLanguage}
       ORDER BY o.last_granted_at NULLS FIRST, coalesce(ho.n, 0), w.enqueued_at, w.execution_id
       LIMIT 1`;
    if (!next) break;
    const now = new Date();
    await tx.capacityReservation.update({ where: { executionId: next.execution_id }, data: { state: 'holding', grantedAt: now } });
    await tx.capacityOwner.upsert({ where: { ownerId: next.owner_id }, create: { ownerId: next.owner_id, lastGrantedAt: now }, update: { lastGrantedAt: now } });
    granted.push(next.execution_id);
  }
  return granted;
}

/**
 * Joins the queue (idempotent) and grants whatever is free, in fair order.
 * Returns this execution's reservation and the other executions granted meanwhile (to be told).
 */
export async function reserve(db: Db, limits: CapacityLimits, req: ReservationRequest): Promise<{ reservation: Reservation; grantedOthers: string[] }> {
  return db.$transaction(async (tx) => {
    await lockQueue(tx);
    await tx.capacityReservation.createMany({ data: [{ executionId: req.executionId, ownerId: req.ownerId, language: req.language }], skipDuplicates: true });
    const granted = await grantInFairOrder(tx, limits);
    const mine = await tx.capacityReservation.findUniqueOrThrow({ where: { executionId: req.executionId } });
    const grantedOthers = granted.filter((id) => id !== req.executionId);
    if (mine.state === 'holding') return { reservation: { granted: true, position: null }, grantedOthers };
    const ahead = await tx.capacityReservation.count({ where: { state: 'waiting', enqueuedAt: { lt: mine.enqueuedAt } } });
    return { reservation: { granted: false, position: ahead }, grantedOthers };
  });
}

/** Leaves the queue or frees the slot (idempotent), and grants freed capacity; returns the executions granted. */
export async function release(db: Db, limits: CapacityLimits, executionId: string): Promise<string[]> {
  return db.$transaction(async (tx) => {
    await lockQueue(tx);
    await tx.capacityReservation.deleteMany({ where: { executionId } });
    return grantInFairOrder(tx, limits);
  });
}

/** Reservations by state (`holding`, `waiting`), for the metrics' backlog gauges. */
export async function countReservationsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db.capacityReservation.groupBy({ by: ['state'], _count: true });
  return Object.fromEntries(rows.map((r) => [r.state, r._count]));
}
