import { z } from 'zod';
import { DEFAULT_LIMITS, LANGUAGES, MAX_SCRIPT_BYTES, MAX_STDIN_BYTES, RUNTIMES, limitsSchema, limitViolations } from './runtimes';
import type { Language, RunLimits } from './runtimes';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/** Builds the schema of `POST /executions` bodies, checking limits against the given maxima. */
export function createExecutionRequestSchema(maxima: RunLimits) {
  return z
    .object({
      language: z.enum(LANGUAGES),
      version: z.string().min(1).max(32).optional(),
      script: z
        .string()
        // Something other than ASCII white space; a regex, so that the OpenAPI document carries the same rule.
        .regex(/[^ \t\n\r\f\v]/, 'must not be empty')
        .refine((s) => utf8Bytes(s) <= MAX_SCRIPT_BYTES, `must be at most ${MAX_SCRIPT_BYTES} bytes`),
      stdin: z
        .string()
        .refine((s) => utf8Bytes(s) <= MAX_STDIN_BYTES, `must be at most ${MAX_STDIN_BYTES} bytes`)
        .optional(),
      limits: limitsSchema.partial().optional(),
    })
    .strict()
    .superRefine((body, ctx) => {
      const runtime = RUNTIMES[body.language];
      if (body.version !== undefined && body.version !== runtime.version) {
        ctx.addIssue({ code: 'custom', path: ['version'], message: `${body.language} provides version ${runtime.version}` });
      }
      for (const [field, message] of limitViolations({ ...DEFAULT_LIMITS, ...body.limits }, maxima)) {
        ctx.addIssue({ code: 'custom', path: ['limits', field], message });
      }
    });
}

export type ExecutionRequest = z.infer<ReturnType<typeof createExecutionRequestSchema>>;

/** A request after defaults were applied: what an execution is created from. */
export interface NormalizedExecutionRequest {
  language: Language;
  version: string;
  script: string;
  stdin: string | null;
  limits: RunLimits;
}

export function normalizeExecutionRequest(request: ExecutionRequest): NormalizedExecutionRequest {
  return {
    language: request.language,
    version: RUNTIMES[request.language].version,
    script: request.script,
    stdin: request.stdin ?? null,
    limits: { ...DEFAULT_LIMITS, ...request.limits },
  };
}
