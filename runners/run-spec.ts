import { LANGUAGES } from '../domain/runtimes';
import type { RunLimits, RunSpec } from './runner';

/**
 * An execution id both runners can use as a name: a cgroup and run dir (local), a pod and ConfigMap name
 * (Kubernetes). No separators, no leading dot (so never `.`, `..` or the local runner's probe).
 */
const EXECUTION_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

export const isSafeExecutionId = (id: string): boolean => EXECUTION_ID.test(id);

const LIMIT_MINIMUMS: Readonly<Record<keyof RunLimits, number>> = {
  wallTimeMs: 1,
  cpuTimeMs: 1,
  memoryMb: 1,
  maxOutputBytes: 0,
  maxProcesses: 1,
  maxFileSizeBytes: 0,
};

/** Each runner's own guard: a bad spec here is a bug upstream, not a user error. */
export function validateRunSpec(spec: RunSpec): void {
  if (!isSafeExecutionId(spec.executionId)) throw new Error(`executionId is not a safe name: ${JSON.stringify(spec.executionId)}`);
  if (!LANGUAGES.includes(spec.language)) throw new Error(`unsupported language: ${String(spec.language)}`);
  if (typeof spec.script !== 'string') throw new Error('script must be a string');
  for (const [name, minimum] of Object.entries(LIMIT_MINIMUMS)) {
    const value = spec.limits[name as keyof RunLimits];
    if (!(Number.isFinite(value) && value >= minimum)) throw new Error(`limits.${name} must be a number >= ${minimum}, got ${value}`);
  }
}
