import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { NormalizedExecutionRequest } from '../domain/execution-request';

// Fixed namespace for execution ids derived from Idempotency-Keys.
const IDEMPOTENT_EXECUTION_NAMESPACE = '6b1d4f0e-3c2a-5e7b-9f10-2d8c4a6e0b31';

/**
 * The execution id for an owner's Idempotency-Key: the same key always names the same execution (and
 * workflow), so two racing requests with one key cannot start two executions.
 */
export function idempotentExecutionId(ownerId: string, key: string): string {
  return uuidv5(`${ownerId}\n${key}`, IDEMPOTENT_EXECUTION_NAMESPACE);
}

/** A hash of the request after defaults, so a key reused with a different request is recognised. */
export function requestHash(request: NormalizedExecutionRequest): string {
  const canonical = JSON.stringify(request, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
  return createHash('sha256').update(canonical).digest('hex');
}
