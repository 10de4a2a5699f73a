import { kafka } from './kafka';
import { down, statusOf, up, type PartDefinition, type PartStatus, type UpOptions, type UpResult } from './part';
import { temporalFlavor, type StackPart } from './paths';
import { postgres } from './postgres';
import { redis } from './redis';
import { temporal } from './temporal';
import { temporalServer } from './temporal-server';

// The local stack: real Postgres, Temporal (dev server, or the production server with EO_TEMPORAL_SERVER=production), Kafka and Redis on loopback, each started
// detached (they outlive the caller), idempotently, and checked before being reported up.

export { STACK_PARTS, stackEndpoints, temporalFlavor } from './paths';
export type { TemporalFlavor } from './paths';
export type { StackPart } from './paths';
export type { PartStatus, UpResult } from './part';
export { createProgress } from './progress';
export type { Progress } from './progress';

const PARTS: Record<StackPart, PartDefinition> = { postgres, temporal, kafka, redis };

function definition(part: StackPart): PartDefinition {
  // EO_TEMPORAL_SERVER picks the dev server or the production server, per call (the bench runs both in turn).
  if (part === 'temporal' && temporalFlavor() === 'production') return temporalServer;
  const def = PARTS[part];
  if (!def) throw new Error(`unknown stack part '${String(part)}' (expected one of ${Object.keys(PARTS).join(', ')})`);
  return def;
}

/** Starts a part unless it is already up and healthy; resolves once it is usable. */
export async function upPart(part: StackPart, opts?: UpOptions): Promise<UpResult> {
  return up(definition(part), opts);
}

/** Stops a part started by this stack (polite signal, then SIGKILL after the deadline). */
export async function downPart(part: StackPart, opts?: { deadlineMs?: number }): Promise<void> {
  return down(definition(part), opts);
}

export async function statusPart(part: StackPart): Promise<PartStatus> {
  return statusOf(definition(part));
}
