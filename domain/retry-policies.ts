import { NON_RETRYABLE_FAILURE_TYPES } from './failure-types';

/** A declarative retry policy, in the shape Temporal's `RetryPolicy` takes. */
export interface RetryPreset {
  /** First delay, ms. */
  initialIntervalMs: number;
  /** Multiplier applied to the delay after each attempt. */
  backoffCoefficient: number;
  /** Largest delay, ms. */
  maximumIntervalMs: number;
  /** Attempts in all, the first included. */
  maximumAttempts: number;
  /** Failure types never retried. */
  nonRetryableErrorTypes: readonly string[];
}

export const RETRY_PRESET_NAMES = ['aggressive', 'cautious', 'immediate', 'default', 'webhook'] as const;
export type RetryPresetName = (typeof RETRY_PRESET_NAMES)[number];
export type RetryPresets = Record<RetryPresetName, RetryPreset>;

/**
 * Named presets (adjustable by config, `RETRY_PRESETS_JSON`):
 * - `aggressive`: database writes — short, many attempts; a blip of the database must not fail a saga.
 * - `cautious`: runner / pod creation — slow backoff, few attempts; creating runners is expensive.
 * - `immediate`: result storage — near-immediate retries; the result exists and must be kept.
 * - `default`: everything else.
 * - `webhook`: completion webhooks — patient backoff over hours (5 s, 15 s, 45 s, … capped at 1 h; ~3.5 h in all),
 *   as Standard Webhooks senders do; a receiver that is down for a while still gets its message.
 */
export const DEFAULT_RETRY_PRESETS: Readonly<RetryPresets> = Object.freeze({
  aggressive: { initialIntervalMs: 200, backoffCoefficient: 2, maximumIntervalMs: 10_000, maximumAttempts: 12, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
  cautious: { initialIntervalMs: 2_000, backoffCoefficient: 3, maximumIntervalMs: 60_000, maximumAttempts: 4, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
  immediate: { initialIntervalMs: 50, backoffCoefficient: 1.5, maximumIntervalMs: 2_000, maximumAttempts: 25, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
  default: { initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 30_000, maximumAttempts: 6, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
  webhook: { initialIntervalMs: 5_000, backoffCoefficient: 3, maximumIntervalMs: 3_600_000, maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
});

/** Which preset each activity retries with. */
export const ACTIVITY_RETRY_PRESET = {
  validateExecution: 'default',
  reserveCapacity: 'aggressive',
  releaseCapacity: 'aggressive',
  markRunning: 'aggressive',
  runScript: 'cautious',
  destroyRunner: 'cautious',
  storeResult: 'immediate',
  recordTerminal: 'immediate',
  deliverCompletionWebhook: 'webhook',
} as const satisfies Record<string, RetryPresetName>;

/** Converts a preset to Temporal's RetryPolicy (durations in ms). */
export function toTemporalRetryPolicy(preset: RetryPreset) {
  return {
    initialInterval: preset.initialIntervalMs,
    backoffCoefficient: preset.backoffCoefficient,
    maximumInterval: preset.maximumIntervalMs,
    maximumAttempts: preset.maximumAttempts,
    nonRetryableErrorTypes: [...preset.nonRetryableErrorTypes],
  };
}
