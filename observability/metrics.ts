import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds buckets from 5 ms to 10 min: queue waits and runs both span that range. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * The worker's series: executions by status and language, how long they waited for a slot and ran, and the
 * runner's failures by type. Registered on `registry` (the worker's own, or the one process's under `npm start`).
 */
export function createWorkerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    executions: new Counter({ name: 'eo_executions_total', help: 'Executions by status reached, counted by the worker: queued (the saga took it up), running, completed, failed, timed_out, cancelled, error; by language', labelNames: ['status', 'language'], registers }),
    queueWait: new Histogram({ name: 'eo_execution_queue_wait_seconds', help: 'From submission to running (waiting for capacity included), by language', labelNames: ['language'], buckets: DURATION_BUCKETS, registers }),
    runDuration: new Histogram({ name: 'eo_execution_run_duration_seconds', help: 'Wall time of a run in the runner, by language and how it ended (exited, timeout, resource_limit, …)', labelNames: ['language', 'termination'], buckets: DURATION_BUCKETS, registers }),
    runnerFailures: new Counter({ name: 'eo_runner_failures_total', help: 'Runs the runner could not carry out, by failure type (a domain failure type, or transient when retried)', labelNames: ['type'], registers }),
    webhookAttempts: new Counter({ name: 'eo_webhook_attempts_total', help: 'Completion-webhook attempts by outcome: delivered (2xx), failed (retried), gave_up (the last attempt failed), refused (target not allowed, or no secret)', labelNames: ['outcome'], registers }),
    webhookDuration: new Histogram({ name: 'eo_webhook_attempt_duration_seconds', help: "Time of one completion-webhook request, from send to the receiver's answer or the error, by outcome (delivered, failed, gave_up)", labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers }),
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/**
 * The relay's series: publishes (rate, latency, failures by kind), the circuit, and — read from Postgres at each
 * scrape by `readBacklog` — the outbox lag and the dead letters.
 */
export function createRelayMetrics(registry: Registry, readBacklog: () => Promise<{ pending: number; dead: number; oldestPendingAgeSeconds: number }>) {
  const registers = [registry];
  let scrape: Promise<void> | null = null;
  const collect = (): Promise<void> =>
    (scrape ??= readBacklog()
      .then((b) => {
        outboxPending.set(b.pending);
        deadLetters.set(b.dead);
        outboxLag.set(b.oldestPendingAgeSeconds);
        backlogReadable.set(1);
      })
      // The scrape still answers; the backlog gauges keep their last values and say they could not be read.
      .catch((): void => backlogReadable.set(0))
      .finally(() => setImmediate(() => (scrape = null))));
  const backlogReadable: Gauge = new Gauge({ name: 'eo_relay_backlog_readable', help: '1 when the outbox gauges could be read from Postgres at this scrape', registers, collect });
  const outboxPending = new Gauge({ name: 'eo_relay_outbox_pending_events', help: 'Outbox events waiting to be published', registers, collect });
  const outboxLag = new Gauge({ name: 'eo_relay_outbox_lag_seconds', help: 'Age of the oldest event not yet published; 0 when none wait', registers, collect });
  const deadLetters = new Gauge({ name: 'eo_relay_dlq_events', help: 'Dead-lettered outbox events (the DLQ), not yet retried or discarded', registers, collect });
  return {
    published: new Counter({ name: 'eo_relay_published_total', help: 'Events published to Kafka, by event type', labelNames: ['event_type'], registers }),
    publishDuration: new Histogram({ name: 'eo_relay_publish_duration_seconds', help: 'Time of one publish call to Kafka (a batch, or one message when a batch is split), by outcome', labelNames: ['outcome'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers }),
    failures: new Counter({ name: 'eo_relay_publish_failures_total', help: 'Publish failures: broker_unavailable (the circuit opens, no attempt spent), rejected (the event counts an attempt), dead_lettered', labelNames: ['kind'], registers }),
    circuitOpen: new Gauge({ name: 'eo_relay_circuit_open', help: '1 while Kafka is unreachable and publishing is paused', registers }),
    brokerConfigured: new Gauge({ name: 'eo_relay_broker_configured', help: '1 when a Kafka broker is configured; 0: events wait in the outbox', registers }),
    databaseUp: new Gauge({ name: 'eo_relay_database_up', help: '0 while the relay cannot claim or settle outbox events in Postgres (its last cycle failed there)', registers }),
  };
}
export type RelayMetrics = ReturnType<typeof createRelayMetrics>;

/** Text exposition of several sources (registries, the Temporal SDK's exporter), joined for one `/metrics`. */
export async function joinExpositions(parts: Array<Registry | (() => Promise<string>)>): Promise<string> {
  const texts = await Promise.all(parts.map((p) => (p instanceof Registry ? p.metrics() : p())));
  return texts.map((t) => t.trimEnd()).filter(Boolean).join('\n') + '\n';
}
