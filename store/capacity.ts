import { Prisma } from '../generated/prisma/client';
import { queryRows, type Db } from './db';

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

// The queue's operations are Postgres functions (migration capacity_functions): one statement each, under one
// advisory lock that serializes the queue across workers, so counts and grants cannot race and the lock is
// never held across a round trip to this process. Free slots go round robin over owners: the owner served
// longest ago (or never) first, then the one holding fewest slots, then by arrival — so one owner's burst
// cannot starve another.

/**
 * Joins the queue (idempotent) and grants whatever is free, in fair order.
 * Returns this execution's reservation and the other executions granted meanwhile (to be told).
 */
export async function reserve(db: Db, limits: CapacityLimits, req: ReservationRequest): Promise<{ reservation: Reservation; grantedOthers: string[] }> {
  const [row] = await queryRows<{ granted: boolean; queue_position: number | null; granted_others: string[] }>(db, Prisma.sql`
    SELECT granted, queue_position, granted_others::text[] AS granted_others
      FROM capacity_reserve(${req.executionId}::uuid, ${req.ownerId}, ${req.language}, ${limits.global}::int, ${limits.perOwner}::int, ${limits.perLanguage}::int)`);
  if (!row) throw new Error(`capacity_reserve returned no row for execution ${req.executionId}`);
  return { reservation: { granted: row.granted, position: row.granted ? null : Number(row.queue_position) }, grantedOthers: row.granted_others };
}

/** Leaves the queue or frees the slot (idempotent), and grants freed capacity; returns the executions granted. */
export async function release(db: Db, limits: CapacityLimits, executionId: string): Promise<string[]> {
  const [row] = await queryRows<{ granted: string[] }>(db, Prisma.sql`
    SELECT capacity_release(${executionId}::uuid, ${limits.global}::int, ${limits.perOwner}::int, ${limits.perLanguage}::int)::text[] AS granted`);
  return row?.granted ?? [];
}

/** Reservations by state (`holding`, `waiting`), for the metrics' backlog gauges. */
export async function countReservationsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db.capacityReservation.groupBy({ by: ['state'], _count: true });
  return Object.fromEntries(rows.map((r) => [r.state, r._count]));
}
