import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { ZodError } from 'zod';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import { DEPENDENCY_RETRY_AFTER_S, unreachableDependency } from './dependency-errors';
import type { Dependency } from './dependency-errors';

/** One invalid field of a request, as reported in `errors` of a 400 problem. */
export interface FieldError {
  field: string;
  message: string;
}

/** An error with an HTTP status, rendered as RFC 9457 problem+json by {@link problemMiddleware}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly extras: Record<string, unknown> = {},
    /** Response headers the problem carries (e.g. `WWW-Authenticate`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpError';
  }
}

/** 503: a dependency the request needs does not answer; the client may come back after `Retry-After`. */
export function dependencyUnavailable(dependency: Dependency, doing = 'this request cannot be served now'): HttpError {
  const name = dependency === 'postgres' ? 'the database (Postgres)' : 'Temporal';
  return new HttpError(503, 'dependency-unavailable', 'Service Unavailable', `${doing}: ${name} does not answer`, { dependency, retryAfterSeconds: DEPENDENCY_RETRY_AFTER_S }, { 'Retry-After': String(DEPENDENCY_RETRY_AFTER_S) });
}

export const notFound = (what: string) => new HttpError(404, 'not-found', 'Not Found', `${what} does not exist`);

export function fieldErrorsOf(err: ZodError, prefix = ''): FieldError[] {
  return err.issues.flatMap((issue) => {
    const at = issue.path.map(String);
    // Name each unknown key as the field at fault, rather than its parent object.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...at, k]) : [at];
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    return paths.map((p) => ({ field: p.length ? prefix + p.join('.') : prefix.replace(/\.$/, '') || '(body)', message }));
  });
}

export function validationError(errors: FieldError[]): HttpError {
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new HttpError(400, 'validation-error', 'Invalid request', detail, { errors });
}

export const problemTypeUri = (slug: string) => `https://execution-orchestrator.dev/problems/${slug}`;

/** Unknown route → 404 problem. */
export const notFoundRoute: RequestHandler = (req, _res, next) => next(notFound(`route ${req.method} ${req.path}`));

/** Maps every error to problem+json: zod → 400, HttpError → its status, body-parser errors → 400/413/415, Postgres or Temporal unreachable → 503 (logged), else 500 (logged). */
export function problemMiddleware(logOf: (req: Request) => Logger): ErrorRequestHandler {
  return (rawErr, req, res, _next) => {
    const err = toHttpError(rawErr);
    // A deliberate HttpError says what it is; anything else that becomes a 5xx (a bug, a dependency down) is logged.
    if (err.status >= 500 && !(rawErr instanceof HttpError)) logOf(req).error({ err: coerceError(rawErr), method: req.method, path: req.path }, 'request failed');
    res.status(err.status).set(err.headers).type('application/problem+json').json(problemBody(err, req.originalUrl));
  };
}

/** The RFC 9457 body of an error (also each failed item of a batch). */
export function problemBody(err: HttpError, instance: string) {
  return { type: problemTypeUri(err.slug), title: err.title, status: err.status, detail: err.message, instance, ...err.extras };
}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ZodError) return validationError(fieldErrorsOf(err));
  const bodyParserError = err as { type?: string; status?: number; message?: string };
  switch (bodyParserError.type) {
    case 'entity.parse.failed':
      return new HttpError(400, 'malformed-json', 'Malformed JSON', `request body is not valid JSON: ${bodyParserError.message}`, {
        errors: [{ field: '(body)', message: 'is not valid JSON' }],
      });
    case 'entity.too.large':
      return new HttpError(413, 'payload-too-large', 'Payload Too Large', 'request body is larger than the limit');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'unsupported-media-type', 'Unsupported Media Type', bodyParserError.message ?? 'unsupported encoding');
  }
  const down = unreachableDependency(err);
  if (down) return dependencyUnavailable(down);
  return new HttpError(500, 'internal-error', 'Internal Server Error', 'an unexpected error occurred; it has been logged');
}
