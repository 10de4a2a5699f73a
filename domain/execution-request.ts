import { z } from 'zod';
import { DEFAULT_LIMITS, LANGUAGES, MAX_SCRIPT_BYTES, MAX_STDIN_BYTES, RUNTIMES, limitsSchema, limitViolations } from './runtimes';
import type { Language, RunLimits } from './runtimes';

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/** Longest callback URL accepted. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

// The document's rule for a callback URL, written as a pattern so that it shows there: scheme, an ASCII host name (or
// IPv4 address), a port of at most 65535, then printable ASCII without '#'. The refinements below say the rest.
const CALLBACK_URL_REST = String.raw`:\/\/[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:[/?][\x21\x22\x24-\x7e]*)?$`;
const CALLBACK_URL_HTTPS = new RegExp(String.raw`^[Hh][Tt][Tt][Pp][Ss]` + CALLBACK_URL_REST);
const CALLBACK_URL_HTTP_OR_HTTPS = new RegExp(String.raw`^[Hh][Tt][Tt][Pp][Ss]?` + CALLBACK_URL_REST);

/**
 * A completion webhook target: an absolute `https:` URL (`http:` only where allowed), without credentials or
 * fragment. Where it may connect is checked as it is delivered (the address its host name resolves to then).
 */
export function callbackUrlSchema(allowHttp: boolean) {
  return z
    .string()
    .max(MAX_CALLBACK_URL_LENGTH)
    // The document's rule (written as a pattern so that it shows there): a scheme and a host; the refinements below say the rest.
    .regex(allowHttp ? CALLBACK_URL_HTTP_OR_HTTPS : CALLBACK_URL_HTTPS, allowHttp ? 'must be an absolute http: or https: URL with an ASCII host name' : 'must be an absolute https: URL with an ASCII host name')
    .refine((raw) => URL.canParse(raw), 'must be an absolute URL')
    .refine((raw) => !URL.canParse(raw) || new URL(raw).protocol === 'https:' || (allowHttp && new URL(raw).protocol === 'http:'), allowHttp ? 'must be an http: or https: URL' : 'must be an https: URL')
    .refine((raw) => !URL.canParse(raw) || (!new URL(raw).username && !new URL(raw).password), 'must not carry credentials')
    .refine((raw) => !URL.canParse(raw) || new URL(raw).hash === '', 'must not have a fragment')
    .describe('completion webhook: POSTed, signed (Standard Webhooks), once the execution has ended');
}

/** Builds the schema of `POST /executions` bodies, checking limits against the given maxima. */
export function createExecutionRequestSchema(maxima: RunLimits, options: { allowHttpCallbacks?: boolean } = {}) {
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
      callbackUrl: callbackUrlSchema(options.allowHttpCallbacks ?? false).optional(),
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
  /** Absent (not null) without one, so the idempotency hash of a request without it is what it always was. */
  callbackUrl?: string;
}

export function normalizeExecutionRequest(request: ExecutionRequest): NormalizedExecutionRequest {
  return {
    language: request.language,
    version: RUNTIMES[request.language].version,
    script: request.script,
    stdin: request.stdin ?? null,
    limits: { ...DEFAULT_LIMITS, ...request.limits },
    ...(request.callbackUrl === undefined ? {} : { callbackUrl: request.callbackUrl }),
  };
}
