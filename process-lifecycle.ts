import { ConfigError } from './config';
import type { Config, ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { coerceError } from './observability/logger';

/** For processes run alone: every endpoint must be configured. */
export function requireEndpoints(config: Readonly<Config>): ResolvedConfig {
  const missing = [
    config.databaseUrl ? null : 'DATABASE_URL',
    config.temporal.address ? null : 'TEMPORAL_ADDRESS',
  ].filter(Boolean);
  if (missing.length > 0) throw new ConfigError(`${missing.join(', ')} must be set (npm start fills them from the local stack; a process run alone does not)`);
  return config as ResolvedConfig;
}

/** Starts a component, stops it on SIGTERM/SIGINT (drain), and exits non-zero if start or stop fails. */
export async function runUntilSignal(log: Logger, start: () => Promise<{ stop(): Promise<void> }>): Promise<void> {
  try {
    const handle = await start();
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      try {
        await handle.stop();
        log.info('stopped');
        process.exit(0);
      } catch (err) {
        log.error({ err: coerceError(err) }, 'stop failed');
        process.exit(1);
      }
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  } catch (err) {
    log.fatal({ err: coerceError(err) }, 'start failed');
    process.exit(1);
  }
}
