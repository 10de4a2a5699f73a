import { Runtime } from '@temporalio/worker';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from './logger';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * Installs the Temporal runtime once per process: SDK logs into our structured logs, no signal handlers of
 * its own, and — given `metricsAddress` (host:port) — the SDK's Prometheus exporter there (`/metrics`: task
 * slots, poll and schedule-to-start latencies, activity and workflow task failures, sticky cache).
 */
export function installTemporalRuntime(log: Logger, metricsAddress: string | null = null): void {
  if (Runtime._instance) return;
  const sdkLog = log.child({ component: 'temporal-sdk' });
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => sdkLog[LEVELS[level]]({ ...meta }, message);
  Runtime.install({
    // Our process-lifecycle owns SIGINT/SIGTERM and drains every component in order.
    shutdownSignals: [],
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
    logger: {
      log: write,
      trace: (m, meta) => write('TRACE', m, meta),
      debug: (m, meta) => write('DEBUG', m, meta),
      info: (m, meta) => write('INFO', m, meta),
      warn: (m, meta) => write('WARN', m, meta),
      error: (m, meta) => write('ERROR', m, meta),
    },
  });
}
