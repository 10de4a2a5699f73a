import { z } from 'zod';

/** Languages the runners know, with the version label reported to users. */
export const Language = { python: 'python', node: 'node', bash: 'bash' } as const;
export type Language = (typeof Language)[keyof typeof Language];
export const LANGUAGES = Object.values(Language) as [Language, ...Language[]];

/** Limits of one run. Every field has a default and a maximum (see {@link DEFAULT_LIMITS}, {@link DEFAULT_LIMIT_MAXIMA}). */
export interface RunLimits {
  /** Wall-clock limit, ms. @default 10000 */
  wallTimeMs: number;
  /** CPU time limit, ms. @default 10000 */
  cpuTimeMs: number;
  /** Memory limit, MiB. @default 256 */
  memoryMb: number;
  /** Cap on each of stdout and stderr, bytes. @default 65536 */
  maxOutputBytes: number;
  /** Processes the script may have at once. @default 32 */
  maxProcesses: number;
  /** Largest file the script may write, bytes. @default 16777216 */
  maxFileSizeBytes: number;
}

export const DEFAULT_LIMITS: Readonly<RunLimits> = Object.freeze({
  wallTimeMs: 10_000,
  cpuTimeMs: 10_000,
  memoryMb: 256,
  maxOutputBytes: 64 * 1024,
  maxProcesses: 32,
  maxFileSizeBytes: 16 * 1024 * 1024,
});

/** Upper bounds a request may ask for; overridable by config (`MAX_LIMITS_JSON`). */
export const DEFAULT_LIMIT_MAXIMA: Readonly<RunLimits> = Object.freeze({
  wallTimeMs: 15 * 60_000,
  cpuTimeMs: 15 * 60_000,
  memoryMb: 4096,
  maxOutputBytes: 256 * 1024,
  maxProcesses: 256,
  maxFileSizeBytes: 256 * 1024 * 1024,
});

export interface RuntimeInfo {
  language: Language;
  /** Version label the runner provides. */
  version: string;
  fileName: string;
}

export const RUNTIMES: Readonly<Record<Language, RuntimeInfo>> = Object.freeze({
  python: { language: 'python', version: '3', fileName: 'main.py' },
  node: { language: 'node', version: '24', fileName: 'main.js' },
  bash: { language: 'bash', version: '5', fileName: 'main.sh' },
});

/** Largest script accepted, bytes of UTF-8. */
export const MAX_SCRIPT_BYTES = 64 * 1024;
/** Largest stdin accepted, bytes of UTF-8. */
export const MAX_STDIN_BYTES = 64 * 1024;

export const limitsSchema = z
  .object({
    wallTimeMs: z.number().int().positive(),
    cpuTimeMs: z.number().int().positive(),
    memoryMb: z.number().int().positive(),
    maxOutputBytes: z.number().int().positive(),
    maxProcesses: z.number().int().positive(),
    maxFileSizeBytes: z.number().int().positive(),
  })
  .strict();

/** Problems with limits against maxima, as `[field, message]` pairs; empty when within bounds. */
export function limitViolations(limits: RunLimits, maxima: RunLimits): Array<[keyof RunLimits, string]> {
  const violations: Array<[keyof RunLimits, string]> = [];
  for (const key of Object.keys(maxima) as Array<keyof RunLimits>) {
    if (limits[key] > maxima[key]) violations.push([key, `must be at most ${maxima[key]}`]);
  }
  return violations;
}
