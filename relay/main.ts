import pg from 'pg';
import { Registry } from 'prom-client';
import { loadConfig } from '../config';
import type { ResolvedConfig } from '../config';
import type { Logger } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { requireEndpoints, runWithOpsServer } from '../process-lifecycle';
import { stopStep } from '../process-stop';
import { createRelayMetrics } from '../observability/metrics';
import type { Readiness } from '../observability/ops-server';
import { pingPool, relayBacklog } from '../store/outbox';
import { createKafkaPublisher } from './kafka-publisher';
import { createOutboxRelay } from './outbox-relay';
import type { OutboxRelay } from './outbox-relay';

/** How long the readiness probe waits for Postgres, ms. */
const READY_CHECK_TIMEOUT_MS = 2_000;

export interface RelayHandle {
  relay: OutboxRelay;
  /** The relay's series, as Prometheus text. */
  metrics(): Promise<string>;
  /** Ready: Postgres answers; Kafka's state is reported (without a broker the relay waits, it is not broken). */
  readiness(): Promise<Readiness>;
  stop(): Promise<void>;
}

/** Runs the outbox relay; without KAFKA_BROKERS it runs paused and events wait in the outbox. */
export async function startRelay(config: ResolvedConfig, log: Logger, options: { registry?: Registry } = {}): Promise<RelayHandle> {
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  // An idle connection the server drops (a Postgres restart) emits here; the pool replaces it, and the
  // relay's next cycle reports a lasting outage. Unheard, it would end the process.
  pool.on('error', (err) => log.warn({ err: err.message }, 'an idle relay connection to Postgres dropped'));
  const publisher = config.kafka.brokers ? createKafkaPublisher({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-relay` }) : null;
  const registry = options.registry ?? new Registry();
  const metrics = createRelayMetrics(registry, () => relayBacklog(pool));
  const relay = createOutboxRelay({
    metrics,
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
    metrics: () => registry.metrics(),
    async readiness() {
      let postgres: { ok: boolean; error?: string };
      try {
        await pingPool(pool, READY_CHECK_TIMEOUT_MS);
        postgres = { ok: true };
      } catch (err) {
        postgres = { ok: false, error: (err as Error).message };
      }
      const s = relay.status();
      const kafka = {
        ok: s.brokerConfigured && s.circuit === 'closed',
        circuit: s.circuit,
        ...(s.brokerConfigured ? {} : { note: 'no broker configured: events wait in the outbox' }),
        ...(s.circuit === 'open' ? { note: `broker unreachable, relay paused: ${s.lastError}` } : {}),
        published: s.published,
        dead_lettered: s.deadLettered,
      };
      return { ready: postgres.ok, checks: { postgres, kafka } };
    },
    async stop() {
      await relay.stop(); // not cut short: it ends with the batch in flight, whose rows it holds
      await stopStep(log, 'relay: Postgres pool', () => pool.end());
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env), { temporal: false }); // the relay talks to Postgres and Kafka only
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'relay' });
  void runWithOpsServer('relay', config, log, (registry) => startRelay(config, log, { registry }));
}
