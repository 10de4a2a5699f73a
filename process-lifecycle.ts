import { collectDefaultMetrics, Registry } from 'prom-client';
import { codecKeyring, ConfigError } from './config';
import type { Config, ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { coerceError } from './observability/logger';
import { startOpsServer, type Readiness } from './observability/ops-server';
import { installTracing } from './observability/tracing';

/**
 * For processes run alone: every endpoint the process uses must be configured, and the codec keys where Temporal
 * payloads are read or written. The relay needs neither Temporal nor its keys.
 */
export function requireEndpoints(config: Readonly<Config>, needs: { temporal: boolean } = { temporal: true }): ResolvedConfig {
  if (needs.temporal) codecKeyring(config);
  const missing = [
    config.databaseUrl ? null : 'DATABASE_URL',
    config.temporal.address || !needs.temporal ? null : 'TEMPORAL_ADDRESS',
  ].filter(Boolean);
  if (missing.length > 0) throw new ConfigError(`${missing.join(', ')} must be set (npm start fills them from the local stack; a process run alone does not)`);
  return config as ResolvedConfig;
}

/** A second signal this soon after the first is the same Ctrl-C delivered twice (npm forwards it to its child). */
const REPEAT_WINDOW_MS = 1000;

/**
 * Starts a component, stops it on SIGTERM/SIGINT (drain), and exits non-zero if start or stop fails.
 * A signal during start-up stops the component as soon as it is up; another signal after that exits at once.
 */
export async function runUntilSignal(log: Logger, start: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
  let handle: { stop(): Promise<void> } | undefined;
  let firstSignalAt: number | undefined;
  const stop = async (running: { stop(): Promise<void> }, signal: string) => {
    log.info({ signal }, 'stopping');
    try {
      await running.stop();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err: coerceError(err) }, 'stop failed');
      process.exit(1);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (firstSignalAt !== undefined) {
      if (now - firstSignalAt < REPEAT_WINDOW_MS) return;
      log.warn({ signal }, 'signalled again: exiting now without finishing the stop');
      process.exit(130);
    }
    firstSignalAt = now;
    if (handle) void stop(handle, signal);
    else log.info({ signal }, 'stopping as soon as start-up reaches a safe point (signal again to exit at once)');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    handle = await start();
  } catch (err) {
    const error = coerceError(err);
    // A refusal says what to do; its stack trace would only bury that.
    if (error.name === 'StartRefused') log.fatal({ reason: error.message }, 'start refused');
    else log.fatal({ err: error }, 'start failed');
    process.exit(1);
  }
  if (firstSignalAt !== undefined) void stop(handle, 'signal during start-up');
}

/** A component run alone behind its ops server: what it reports, and how it stops. */
export interface OpsServedComponent {
  metrics(): Promise<string>;
  readiness(): Promise<Readiness>;
  stop(): Promise<void>;
}

/**
 * Runs one component (worker, relay) as a process of its own, until a signal: its tracing, its default
 * Prometheus series (`eo_<role>_…`), and its ops server up before the component starts (slow: the worker
 * bundles its workflows) — live at once, ready once the component reports ready. Stops the component, then
 * the ops server, then tracing (exporting what is buffered).
 */
export function runWithOpsServer(role: 'worker' | 'relay', config: ResolvedConfig, log: Logger, start: (registry: Registry) => Promise<OpsServedComponent>): Promise<void> {
  return runUntilSignal(log, async () => {
    const tracing = installTracing(config, role);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: `eo_${role}_` });
    let component: OpsServedComponent | undefined;
    const ops = await startOpsServer({
      ...config.ops,
      log,
      metrics: () => (component ? component.metrics() : registry.metrics()),
      readiness: async () => (component ? component.readiness() : { ready: false, checks: { [role]: { ok: false, state: 'starting' } } }),
    });
    try {
      component = await start(registry);
    } catch (err) {
      await ops.close();
      throw err;
    }
    const started = component;
    return {
      async stop() {
        await started.stop();
        await ops.close();
        await tracing.shutdown();
      },
    };
  });
}
