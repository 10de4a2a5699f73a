import { freeLoopbackPort } from '../stack/port';
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
  sdkMetricsAddress = metricsAddress;
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

let sdkMetricsAddress: string | null = null;

/** A free port on loopback for the SDK's exporter, which the ops server or the API then reads and re-serves. */
export async function freeLoopbackAddress(): Promise<string> {
  return `127.0.0.1:${await freeLoopbackPort()}`;
}

/** Timeout of one read of the SDK's exporter, ms: a scrape must not hang on it. */
const SDK_SCRAPE_TIMEOUT_MS = 2_000;

/**
 * The Temporal SDK's worker metrics (Prometheus text) read from its exporter in this process, for a
 * `/metrics` that serves every series of the process; empty when this process's runtime exports none.
 */
export async function temporalSdkMetrics(): Promise<string> {
  if (!sdkMetricsAddress) return '';
  try {
    const res = await fetch(`http://${sdkMetricsAddress}/metrics`, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    return res.ok ? await res.text() : `# Temporal SDK metrics not readable: HTTP ${res.status}\n`;
  } catch (err) {
    return `# Temporal SDK metrics not readable: ${(err as Error).message}\n`;
  }
}
