import { isGrpcServiceError } from '@temporalio/client';

/** Retry-After of a 503 when Postgres or Temporal does not answer, s. */
export const DEPENDENCY_RETRY_AFTER_S = 5;

export type Dependency = 'postgres' | 'temporal';

// gRPC UNAVAILABLE, DEADLINE_EXCEEDED: the Temporal frontend is not there (or not in time).
const GRPC_UNREACHABLE = new Set([14, 4]);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// Prisma: cannot reach / timed out / server closed the connection / pool timeout.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// Postgres SQLSTATE: connection exceptions (08…), admin/crash shutdown, cannot connect now.
const PG_STATES = /^(08...|57P0[1-3])$/;
const PG_MESSAGES = /Connection terminated|Can't reach database server|connection timeout|ECONNREFUSED|terminating connection|the database system is (starting up|shutting down)|Client has encountered a connection error/i;

/**
 * Which dependency `err` says is unreachable (a refused or dropped connection, a shutdown, a timeout), looking
 * through its causes; null for any other error (a bug, a constraint, a refused transition).
 */
export function unreachableDependency(err: unknown): Dependency | null {
  for (const e of causeChain(err)) {
    if (isGrpcServiceError(e)) return GRPC_UNREACHABLE.has(e.code) ? 'temporal' : null;
    const { name, code, message } = e as { name?: unknown; code?: unknown; message?: unknown };
    if (name === 'PrismaClientInitializationError') return 'postgres';
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || PRISMA_CODES.has(code) || PG_STATES.test(code))) return 'postgres';
    if (typeof message === 'string' && PG_MESSAGES.test(message)) return 'postgres';
  }
  return null;
}

/** An error and what it wraps (`cause`, or a driver's `originalError`), outermost first, at most six deep. */
function* causeChain(err: unknown): Generator<object> {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e && typeof e === 'object'; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
}

/**
 * The Temporal namespace's refusal of the saga's search attributes (not registered there): what it said, or null.
 * An operator's set-up step, missing: README, "Pointing the service at a cluster".
 */
export function missingSearchAttribute(err: unknown): string | null {
  for (const e of causeChain(err)) {
    // gRPC INVALID_ARGUMENT: "Namespace x has no mapping defined for search attribute ExecutionState".
    if (isGrpcServiceError(e)) return e.code === 3 && /search attribute/i.test(e.details) ? e.details : null;
  }
  return null;
}

/**
 * Whether Temporal refused a start for good (gRPC INVALID_ARGUMENT: a search attribute not registered, a payload
 * too large), so that asking again will not help; an unreachable or slow Temporal is not such a refusal.
 */
export function refusedForGood(err: unknown): boolean {
  for (const e of causeChain(err)) {
    if (isGrpcServiceError(e)) return e.code === 3;
  }
  return false;
}
