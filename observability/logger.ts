import { trace } from '@opentelemetry/api';
import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  level: string;
  name?: string;
  /** `auto` is pretty when stdout is a terminal, JSON otherwise. @default auto */
  format?: LogFormat;
}

/** True when logs go to a person (a terminal) rather than to a collector. */
export function wantsPrettyLogs(format: LogFormat = 'auto'): boolean {
  return format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
}

/** Structured logs: JSON for collectors, readable lines for a person; child loggers carry execution_id, workflow_id, correlation_id. */
export function createLogger(opts: LoggerOptions, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    name: opts.name ?? 'execution-orchestrator',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceFields,
  };
  if (destination) return pino(options, destination);
  if (!wantsPrettyLogs(opts.format)) return pino(options);
  // Synchronous, in this thread: a transport's worker thread would lose the last lines of a process that exits.
  return pino(options, pretty({ sync: true, singleLine: true, colorize: process.stdout.isTTY === true, translateTime: 'HH:MM:ss.l', ignore: 'name,span_id' }));
}

/** `trace_id` and `span_id` of the span active where a line is logged (a request, an activity, a relay publish). */
function traceFields(): Record<string, string> {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
}

/** Turns anything thrown into an Error, so a catch can log and rethrow it uniformly. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
