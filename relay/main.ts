import pg from 'pg';
import { loadConfig } from '../config';
import type { ResolvedConfig } from '../config';
import type { Logger } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { requireEndpoints, runUntilSignal } from '../process-lifecycle';
import { createKafkaPublisher } from './kafka-publisher';
import { createOutboxRelay } from './outbox-relay';
import type { OutboxRelay } from './outbox-relay';

export interface RelayHandle {
  relay: OutboxRelay;
  stop(): Promise<void>;
}

/** Runs the outbox relay; without KAFKA_BROKERS it runs paused and events wait in the outbox. */
export async function startRelay(config: ResolvedConfig, log: Logger): Promise<RelayHandle> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  // An idle connection the server drops (a Postgres restart) emits here; the pool replaces it, and the
  // relay's next cycle reports a lasting outage. Unheard, it would end the process.
  pool.on('error', (err) => log.warn({ err: err.message }, 'an idle relay connection to Postgres dropped'));
  const publisher = config.kafka.brokers ? createKafkaPublisher({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-relay` }) : null;
  const relay = createOutboxRelay({
    pool,
    databaseUrl: config.databaseUrl,
    publisher,
    log,
    batchSize: config.relay.batchSize,
    pollIntervalMs: config.relay.pollIntervalMs,
    maxAttempts: config.relay.maxAttempts,
  });
  await relay.start();
  log.info({ brokers: config.kafka.brokers ?? null }, 'relay started');
  return {
    relay,
    async stop() {
      await relay.stop();
      await pool.end();
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env), { codecKeys: false }); // the relay reads no Temporal payloads
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'relay' });
  void runUntilSignal(log, () => startRelay(config, log));
}
