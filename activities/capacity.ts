import type { Db } from '../store/db';

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

// One advisory lock serializes reservations across workers, so the counts below cannot be raced.
const CAPACITY_LOCK_KEY = 0x0e0c_0001;

/**
 * Takes a run slot if global, per-owner and per-language limits all allow it.
 * Idempotent: an execution that already holds a slot keeps it and gets `true`.
 */
export async function tryReserve(db: Db, limits: CapacityLimits, req: ReservationRequest): Promise<boolean> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CAPACITY_LOCK_KEY}::bigint)`;
    const held = await tx.capacityReservation.findUnique({ where: { executionId: req.executionId } });
    if (held) return true;
    const global = await tx.capacityReservation.count();
    const owner = await tx.capacityReservation.count({ where: { ownerId: req.ownerId } });
    const language = await tx.capacityReservation.count({ where: { language: req.language } });
    if (global >= limits.global || owner >= limits.perOwner || language >= limits.perLanguage) return false;
    await tx.capacityReservation.create({ data: { executionId: req.executionId, ownerId: req.ownerId, language: req.language } });
    return true;
  });
}

/** Frees the slot of an execution; idempotent. */
export async function release(db: Db, executionId: string): Promise<boolean> {
  const { count } = await db.capacityReservation.deleteMany({ where: { executionId } });
  return count > 0;
}
