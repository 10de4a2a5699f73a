import { codecKeyring, ConfigError } from './config';
import type { Config, ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { coerceError } from './observability/logger';

/** For processes run alone: every endpoint must be configured, and the codec keys where Temporal payloads are read or written. */
export function requireEndpoints(config: Readonly<Config>, needs: { codecKeys: boolean } = { codecKeys: true }): ResolvedConfig {
  if (needs.codecKeys) codecKeyring(config);
  const missing = [
    config.databaseUrl ? null : 'DATABASE_URL',
    config.temporal.address ? null : 'TEMPORAL_ADDRESS',
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
