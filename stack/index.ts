import { kafka } from './kafka';
import { kubernetes } from './kubernetes';
import { down, statusOf, up, type PartDefinition, type PartStatus, type UpOptions, type UpResult } from './part';
import type { StackPart } from './paths';
import { postgres } from './postgres';
import { redis } from './redis';
import { temporal } from './temporal';

// The local stack: real Postgres, Temporal dev server, Kafka and Redis on loopback (and, when named, a
// Kubernetes control plane with a simulated node), each started
// detached (they outlive the caller), idempotently, and checked before being reported up.

export { ALL_STACK_PARTS, OPTIONAL_STACK_PARTS, STACK_PARTS, stackEndpoints } from './paths';
export { kubeconfigPath } from './kubernetes';
export type { StackPart } from './paths';
export type { PartStatus, UpResult } from './part';
export { createProgress } from './progress';
export type { Progress } from './progress';

const PARTS: Record<StackPart, PartDefinition> = { postgres, temporal, kafka, redis, kubernetes };

function definition(part: StackPart): PartDefinition {
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
