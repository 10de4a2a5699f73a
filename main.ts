import { startApiServer } from './api/server';
import { loadConfig } from './config';
import type { Config, ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { createLogger, coerceError } from './observability/logger';
import { runUntilSignal } from './process-lifecycle';
import { startRelay } from './relay/main';
import { downPart, stackEndpoints, upPart } from './stack';
import type { StackPart } from './stack';
import { runMigrations } from './store/migrate';
import { startWorker } from './worker';

/**
 * `npm start`: API + worker + relay in one process. Whatever of DATABASE_URL, TEMPORAL_ADDRESS and
 * KAFKA_BROKERS is not set is started from the local stack (stack/), each fallback logged once.
 */
async function startAll(config: Readonly<Config>, log: Logger) {
  const started: StackPart[] = [];
  const local = stackEndpoints();
  const fillFromStack = async (part: StackPart, variable: string): Promise<void> => {
    const up = await upPart(part, { log: (line) => log.debug({ part }, line) });
    if (!up.alreadyRunning) started.push(part);
    log.info({ part, endpoint: up.endpoint, log_file: up.logFile, started_in_ms: up.startedInMs }, `${variable} not set: using the local ${part}`);
  };

  if (!config.databaseUrl) await fillFromStack('postgres', 'DATABASE_URL');
  if (!config.temporal.address) await fillFromStack('temporal', 'TEMPORAL_ADDRESS');
  let kafkaBrokers = config.kafka.brokers;
  if (!kafkaBrokers) {
    try {
      await fillFromStack('kafka', 'KAFKA_BROKERS');
      kafkaBrokers = local.kafkaBrokers.split(',');
    } catch (err) {
      log.warn({ err: coerceError(err).message }, 'KAFKA_BROKERS not set and no local Kafka could start: events wait in the outbox');
    }
  }
  const resolved: ResolvedConfig = {
    ...config,
    databaseUrl: config.databaseUrl ?? local.databaseUrl,
    temporal: { ...config.temporal, address: config.temporal.address ?? local.temporalAddress },
    kafka: { ...config.kafka, brokers: kafkaBrokers },
  };

  await runMigrations(resolved.databaseUrl);
  const worker = await startWorker(resolved, log.child({ process: 'worker' }));
  const relay = await startRelay(resolved, log.child({ process: 'relay' }));
  const api = await startApiServer(resolved, log.child({ process: 'api' }), { relayStatus: relay.relay.status });
  if (!config.temporal.address) log.info({ url: local.temporalUiUrl }, 'Temporal Web UI');
  log.info({ url: `${api.url}/api/v1/executions` }, 'ready');

  return {
    async stop() {
      await api.stop();
      await worker.stop();
      await relay.stop();
      // Only what this run started; a stack that was already up stays up.
      for (const part of started.reverse()) await downPart(part);
    },
  };
}

const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel });
void runUntilSignal(log, () => startAll(config, log));
