import { kafka } from './kafka';
import { kubernetes } from './kubernetes';
import { down, statusOf, up, type PartDefinition, type PartStatus, type UpOptions, type UpResult } from './part';
import { pidFile, temporalFlavor, type StackPart, type TemporalFlavor } from './paths';
import { inspectPidFile } from './process';
import { postgres } from './postgres';
import { redis } from './redis';
import { temporal } from './temporal';
import { temporalServer } from './temporal-server';

// The local stack: real Postgres, Temporal (the dev server, or the production server with
// EO_TEMPORAL_SERVER=production), Kafka and Redis on loopback (and, when named, a Kubernetes control plane with a
// simulated node), each started detached (they outlive the caller), idempotently, and checked before being reported up.

export { ALL_STACK_PARTS, OPTIONAL_STACK_PARTS, STACK_PARTS, stackEndpoints, temporalFlavor } from './paths';
export type { TemporalFlavor } from './paths';
export { kubeconfigPath } from './kubernetes';
export type { StackPart } from './paths';
export type { PartStatus, UpResult } from './part';
export { createProgress } from './progress';
export type { Progress } from './progress';

const PARTS: Record<StackPart, PartDefinition> = { postgres, temporal, kafka, redis, kubernetes };

function definition(part: StackPart): PartDefinition {
  // EO_TEMPORAL_SERVER picks the dev server or the production server, per call (the bench runs both in turn).
  if (part === 'temporal' && temporalFlavor() === 'production') return temporalServer;
  const def = PARTS[part];
  if (!def) throw new Error(`unknown stack part '${String(part)}' (expected one of ${Object.keys(PARTS).join(', ')})`);
  return def;
}

const TEMPORAL_FLAVORS = [
  { name: 'dev', def: temporal },
  { name: 'production', def: temporalServer },
] as const;

/** The Temporal server this stack started and that still runs, whichever EO_TEMPORAL_SERVER says. */
function runningTemporal(): (typeof TEMPORAL_FLAVORS)[number] | undefined {
  return TEMPORAL_FLAVORS.find(({ def }) => inspectPidFile(pidFile('temporal'), def.marker).kind === 'running');
}

/** Which Temporal server this stack started and still runs, if any. */
export function runningTemporalFlavor(): TemporalFlavor | undefined {
  return runningTemporal()?.name;
}

/** Starts a part unless it is already up and healthy; resolves once it is usable. */
export async function upPart(part: StackPart, opts?: UpOptions): Promise<UpResult> {
  const def = definition(part);
  if (part !== 'temporal') return up(def, opts);
  // Both servers share the part's pid file and ports. Checked under the part's lock: a server the other flavor
  // started while this command waited (a build takes minutes) would otherwise read as a stale pid file, be
  // forgotten, and then be used as "a server this stack did not start".
  const refusal = () => {
    const running = runningTemporal();
    if (!running || running.def === def) return undefined;
    return `temporal: the local ${running.name} Temporal server is running, not the one EO_TEMPORAL_SERVER asks for; stop it first: EO_TEMPORAL_SERVER=${running.name} npm run stack -- down temporal`;
  };
  return up(def, { ...opts, refusal });
}

/** Stops a part started by this stack (polite signal, then SIGKILL after the deadline); for Temporal, whichever server runs. */
export async function downPart(part: StackPart, opts?: { deadlineMs?: number }): Promise<void> {
  return down((part === 'temporal' ? runningTemporal()?.def : undefined) ?? definition(part), opts);
}

export async function statusPart(part: StackPart): Promise<PartStatus> {
  return statusOf((part === 'temporal' ? runningTemporal()?.def : undefined) ?? definition(part));
}
