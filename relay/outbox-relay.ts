import type { Pool } from 'pg';
import { EVENT_TYPES } from '../domain/events';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import type { RelayMetrics } from '../observability/metrics';
import { SpanAttr, SpanKind, SpanStatusCode, startSpanUnder, traceparentOf } from '../observability/tracing';
import { OUTBOX_CHANNEL, listenForNotifications } from '../store/notifications';
import type { NotificationListener } from '../store/notifications';
import { claimHeads, inTransaction, markFailed, markPublished } from '../store/outbox';
import type { OutboxRow } from '../store/outbox';
import type { EventPublisher, OutboundMessage } from './publisher';
import { PublishError } from './publisher';

export interface OutboxRelayOptions {
  pool: Pool;
  /** Connection string for the LISTEN connection (kept out of the pool). */
  databaseUrl: string;
  /** Null when no broker is configured: events wait in the outbox. */
  publisher: EventPublisher | null;
  log: Logger;
  /** Events claimed per transaction. @default 200 */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives, ms. @default 2000 */
  pollIntervalMs?: number;
  /** Attempts before a message that fails on its own is dead-lettered. @default 10 */
  maxAttempts?: number;
  /** Topics ensured before the first publish. @default one per event type */
  topics?: readonly string[];
  /** Publish rate, latency and failures, the circuit. @default none recorded */
  metrics?: RelayMetrics;
}

export interface RelayStatus {
  /** `open` while the broker is unreachable: publishing is paused, no attempts are burnt. */
  circuit: 'closed' | 'open';
  brokerConfigured: boolean;
  /** False while its cycles fail in Postgres (claiming or settling events); true again after a cycle that did not. */
  databaseUp: boolean;
  lastError: string | null;
  published: number;
  deadLettered: number;
}

const BACKOFF_MIN_MS = 500;
const dlqTopic = (eventType: string) => `${eventType}.dlq`;
const BACKOFF_MAX_MS = 30_000;
/**
 * Longest pause between probes of a broker (or database) that is down. A probe is one cheap request, and the
 * backlog drains only after the next one succeeds: with 30 s, the fault tests saw the outbox drain up to ~20 s
 * after Kafka was back, when no new event woke the relay.
 */
const OUTAGE_BACKOFF_MAX_MS = 5_000;

/**
 * Publishes the transactional outbox to Kafka, at least once, in order per execution.
 * Wakes on Postgres NOTIFY (with a slow poll as a safety net); a broker outage opens a circuit with
 * exponential backoff and burns no per-message attempts.
 */
export function createOutboxRelay(opts: OutboxRelayOptions) {
  const batchSize = opts.batchSize ?? 200;
  const pollIntervalMs = opts.pollIntervalMs ?? 2_000;
  const maxAttempts = opts.maxAttempts ?? 10;
  const log = opts.log.child({ component: 'relay' });
  const status: RelayStatus = { circuit: 'closed', brokerConfigured: opts.publisher !== null, databaseUp: true, lastError: null, published: 0, deadLettered: 0 };

  let stopping = false;
  let wake: (() => void) | null = null;
  let listener: NotificationListener | null = null;
  let loopDone: Promise<void> | null = null;
  let topicsReady = false;
  let outageBackoffMs = BACKOFF_MIN_MS;

  const sleepUntilWoken = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  function toMessage(row: OutboxRow, traceparent?: string): OutboundMessage {
    const headers = row.headers ?? {};
    return { topic: row.event_type, key: row.execution_id, value: JSON.stringify(row.envelope), headers: traceparent ? { ...headers, traceparent } : headers };
  }

  /**
   * Publishes rows as one call, timed, each in a producer span continuing the event's stored trace; the
   * span's `traceparent` is the one Kafka consumers receive.
   */
  async function publishTraced(publisher: EventPublisher, rows: OutboxRow[]): Promise<void> {
    const spans = rows.map((row) =>
      startSpanUnder(row.headers?.traceparent, `publish ${row.event_type}`, {
        [SpanAttr.executionId]: row.execution_id,
        [SpanAttr.correlationId]: String((row.envelope as { correlation_id?: unknown }).correlation_id ?? ''),
        'messaging.system': 'kafka',
        'messaging.destination.name': row.event_type,
        'messaging.message.id': row.id,
      }, SpanKind.PRODUCER),
    );
    const timer = opts.metrics?.publishDuration.startTimer();
    try {
      // An event stored without a trace (written before traces existed) is sent as it was stored.
      await publisher.publish(rows.map((row, i) => toMessage(row, row.headers?.traceparent ? traceparentOf(spans[i]!) : undefined)));
      timer?.({ outcome: 'ok' });
      for (const row of rows) opts.metrics?.published.inc({ event_type: row.event_type });
      for (const span of spans) span.end();
    } catch (err) {
      const kind = err instanceof PublishError ? err.kind : 'error';
      timer?.({ outcome: kind });
      for (const span of spans) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: coerceError(err).message });
        span.end();
      }
      throw err;
    }
  }

  /** Sends one message at a time to find which of a rejected batch fail on their own. */
  async function publishIsolated(rows: OutboxRow[]): Promise<{ ok: OutboxRow[]; rejected: Array<[OutboxRow, PublishError]> }> {
    const ok: OutboxRow[] = [];
    const rejected: Array<[OutboxRow, PublishError]> = [];
    const blockedExecutions = new Set<string>();
    for (const row of rows) {
      if (blockedExecutions.has(row.execution_id)) continue;
      try {
        await publishTraced(opts.publisher!, [row]);
        ok.push(row);
      } catch (err) {
        if (!(err instanceof PublishError) || err.kind === 'broker_unavailable') throw err;
        rejected.push([row, err]);
        blockedExecutions.add(row.execution_id);
      }
    }
    return { ok, rejected };
  }

  /**
   * Tells `<event_type>.dlq` consumers about a dead-lettered event: a compact record (ids, error, size), since
   * the event itself was refused. The outbox row (state `dead`, with its error) is the DLQ of record either way.
   */
  async function announceDeadLetter(publisher: EventPublisher, row: OutboxRow, err: PublishError): Promise<void> {
    const record = { event_id: row.id, event_type: row.event_type, aggregate_id: row.execution_id, sequence: row.sequence, error: err.message, envelope_bytes: JSON.stringify(row.envelope).length, dead_lettered_at: new Date().toISOString() };
    try {
      await publisher.publish([{ topic: dlqTopic(row.event_type), key: row.execution_id, value: JSON.stringify(record), headers: {} }]);
    } catch (dlqErr) {
      log.error({ event_id: row.id, err: coerceError(dlqErr).message }, 'could not announce a dead-lettered event on its .dlq topic; the outbox row keeps it');
    }
  }

  /** One claim → publish → mark cycle. Returns how many events it settled (0 when idle or paused). */
  async function drainOnce(): Promise<number> {
    const publisher = opts.publisher;
    if (!publisher) return 0;
    // While the circuit is open this is also the probe that closes it: a cycle with nothing to claim must not
    // report Kafka reachable without having asked it.
    if (!topicsReady || status.circuit === 'open') {
      const topics = opts.topics ?? EVENT_TYPES;
      await publisher.ensureTopics([...topics, ...topics.map(dlqTopic)]);
      topicsReady = true;
    }
    const settled = await inTransaction(opts.pool, async (client) => {
      const rows = await claimHeads(client, batchSize);
      if (rows.length === 0) return null;
      let ok: OutboxRow[] = rows;
      let rejected: Array<[OutboxRow, PublishError]> = [];
      try {
        await publishTraced(publisher, rows);
      } catch (err) {
        if (!(err instanceof PublishError) || err.kind === 'broker_unavailable') throw err;
        ({ ok, rejected } = await publishIsolated(rows));
      }
      await markPublished(client, ok.map((r) => r.id));
      const dead: Array<[OutboxRow, PublishError]> = [];
      for (const [row, err] of rejected) {
        const retryDelayMs = Math.min(BACKOFF_MIN_MS * 2 ** row.attempts, BACKOFF_MAX_MS);
        const outcome = await markFailed(client, row, err.message, maxAttempts, retryDelayMs);
        if (outcome === 'dead') dead.push([row, err]);
        opts.metrics?.failures.inc({ kind: outcome === 'dead' ? 'dead_lettered' : 'rejected' });
        log.error({ event_id: row.id, execution_id: row.execution_id, event_type: row.event_type, attempt: row.attempts + 1, outcome, err: err.message }, 'event rejected by Kafka');
      }
      return { ok, rejected, dead };
    });
    if (!settled) return 0;
    const { ok, rejected, dead } = settled;
    status.deadLettered += dead.length;
    for (const [row, err] of dead) await announceDeadLetter(publisher, row, err);
    status.published += ok.length;
    return ok.length + rejected.length;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const settled = await drainOnce();
        if (status.circuit === 'open') log.info('Kafka reachable again; relay resumed');
        if (!status.databaseUp) log.info('Postgres reachable again; relay resumed');
        status.circuit = 'closed';
        opts.metrics?.circuitOpen.set(0);
        status.databaseUp = true;
        opts.metrics?.databaseUp.set(1);
        status.lastError = null;
        outageBackoffMs = BACKOFF_MIN_MS;
        if (settled === 0) await sleepUntilWoken(pollIntervalMs);
      } catch (err) {
        const error = coerceError(err);
        status.lastError = error.message;
        if (err instanceof PublishError && err.kind === 'broker_unavailable') {
          if (status.circuit === 'closed') log.warn({ err: error.message, retry_in_ms: outageBackoffMs }, 'Kafka unreachable; relay paused, events wait in the outbox');
          status.circuit = 'open';
          opts.metrics?.circuitOpen.set(1);
          opts.metrics?.failures.inc({ kind: 'broker_unavailable' });
        } else if (err instanceof PublishError) {
          log.error({ err: error }, 'relay cycle failed; retrying');
        } else {
          // Not Kafka's: the claim or the settle failed in Postgres (an outage, a dropped connection).
          if (status.databaseUp) log.warn({ err: error.message, retry_in_ms: outageBackoffMs }, 'Postgres unreachable from the relay; retrying, events wait in the outbox');
          status.databaseUp = false;
          opts.metrics?.databaseUp.set(0);
        }
        await sleepUntilWoken(outageBackoffMs);
        outageBackoffMs = Math.min(outageBackoffMs * 2, OUTAGE_BACKOFF_MAX_MS);
      }
    }
  }

  return {
    status: (): Readonly<RelayStatus> => ({ ...status }),
    drainOnce,

    async start(): Promise<void> {
      if (!opts.publisher) log.warn('no Kafka broker configured; events wait in the outbox until one is');
      opts.metrics?.brokerConfigured.set(opts.publisher ? 1 : 0);
      opts.metrics?.circuitOpen.set(0);
      opts.metrics?.databaseUp.set(1);
      // Woken by NOTIFY; the poll keeps events flowing while the LISTEN connection is down.
      const started = listenForNotifications({ databaseUrl: opts.databaseUrl, channel: OUTBOX_CHANNEL, name: 'relay', log, onNotification: () => wake?.(), onReconnected: () => wake?.() });
      try {
        await started.firstAttempt;
      } catch (err) {
        await started.close();
        throw err;
      }
      listener = started;
      loopDone = loop();
    },

    /** Stops after the current cycle (SIGTERM drain). */
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await loopDone;
      await listener?.close().catch(() => undefined);
      await opts.publisher?.close();
    },
  };
}

export type OutboxRelay = ReturnType<typeof createOutboxRelay>;
