import pino from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs; child loggers carry execution_id, workflow_id, correlation_id. */
export function createLogger(opts: { level: string; name?: string }): Logger {
  return pino({ level: opts.level, name: opts.name ?? 'execution-orchestrator', base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Turns anything thrown into an Error, so a catch can log and rethrow it uniformly. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
