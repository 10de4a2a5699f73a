import { Counter, Gauge } from 'prom-client';

/** What the gauges read of a relay's status (`RelayStatus` in outbox-relay.ts, which imports this module). */
interface ObservedStatus {
  circuit: 'closed' | 'open';
  brokerConfigured: boolean;
  databaseUp: boolean;
}

/**
 * The relay's Prometheus metrics, in prom-client's default registry: whichever server a process runs for
 * metrics serves them with the rest. Read from the relays of this process at scrape time (one in production;
 * several in a test), so a gauge is never stale.
 */
const relays = new Set<() => Readonly<ObservedStatus>>();

/** Registers a relay's status for the gauges; returns the call that removes it (on stop). */
export function observeRelay(status: () => Readonly<ObservedStatus>): () => void {
  relays.add(status);
  return () => relays.delete(status);
}

const anyRelay = (test: (s: Readonly<ObservedStatus>) => boolean) => ([...relays].some((status) => test(status())) ? 1 : 0);

new Gauge({
  name: 'eo_relay_circuit_open',
  help: '1 while the relay finds Kafka unreachable: publishing paused, events wait in the outbox, no attempts spent',
  collect() {
    this.set(anyRelay((s) => s.circuit === 'open'));
  },
});

new Gauge({
  name: 'eo_relay_database_up',
  help: '0 while the relay cannot claim or settle outbox events in Postgres (its last cycle failed there)',
  collect() {
    this.set(relays.size === 0 ? 0 : 1 - anyRelay((s) => !s.databaseUp));
  },
});

new Gauge({
  name: 'eo_relay_broker_configured',
  help: '1 when a Kafka broker is configured; 0 means events wait in the outbox until one is',
  collect() {
    this.set(anyRelay((s) => s.brokerConfigured));
  },
});

/** Events published to Kafka by the relays of this process. */
export const publishedEvents = new Counter({ name: 'eo_relay_published_events_total', help: 'Outbox events the relay published to Kafka' });
/** Events dead-lettered by the relays of this process. */
export const deadLetteredEvents = new Counter({ name: 'eo_relay_dead_lettered_events_total', help: 'Outbox events the relay gave up on (rejected by Kafka on every attempt)' });
