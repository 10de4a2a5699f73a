import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import { countReservationsByState } from '../store/capacity';
import type { Db } from '../store/db';
import { countUnfinishedByStatus } from '../store/executions';
import { outboxBacklog } from '../store/outbox';
import type { ExecutionFeed } from './execution-feed';
import type { StreamSlots } from './stream-slots';

export interface ApiMetrics {
  registry: Registry;
  /** Times every request, labelled by route template (never by id), method and status. */
  timeRequests(req: Request, res: Response, next: NextFunction): void;
  /** Counts an event stream whose client left during set-up. */
  streamAbandonedInSetup(): void;
}

/**
 * The API's Prometheus metrics: its own HTTP traffic and process, plus the service's backlog read from
 * Postgres at scrape time (the same for every replica): executions waiting and running, capacity,
 * the outbox behind Kafka and its dead letters.
 */
export function createApiMetrics(db: Db, log: Logger, streams: { slots: StreamSlots; feed: ExecutionFeed }): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'eo_api_' });

  const requestDuration = new Histogram({
    name: 'eo_http_request_duration_seconds',
    help: 'API request duration, by route template, method and status (event streams last as long as they are open)',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // One read for all backlog gauges per scrape, whichever gauge prom-client collects first.
  let scrape: Promise<void> | null = null;
  const readBacklog = () =>
    (scrape ??= (async () => {
      try {
        const [byStatus, byCapacity, backlog] = await Promise.all([countUnfinishedByStatus(db), countReservationsByState(db), outboxBacklog(db)]);
        for (const status of ['queued', 'running']) executions.set({ status }, byStatus[status] ?? 0);
        for (const state of ['holding', 'waiting']) capacity.set({ state }, byCapacity[state] ?? 0);
        for (const state of ['pending', 'dead']) outbox.set({ state }, backlog.byState[state] ?? 0);
        const oldestAt = backlog.oldestPendingAt;
        outboxAge.set(oldestAt ? Math.max(0, (Date.now() - oldestAt.getTime()) / 1000) : 0);
        databaseUp.set(1);
      } catch (err) {
        // The scrape still answers (process and HTTP metrics); the backlog gauges keep their last values.
        log.warn({ err: coerceError(err) }, 'metrics: backlog not readable from Postgres');
        databaseUp.set(0);
      }
    })().finally(() => setImmediate(() => (scrape = null))));

  const databaseUp = new Gauge({ name: 'eo_database_up', help: '1 when the backlog gauges below could be read from Postgres at this scrape', registers: [registry], collect: readBacklog });
  const executions = new Gauge({ name: 'eo_executions', help: 'Executions not yet ended, by status', labelNames: ['status'], registers: [registry], collect: readBacklog });
  const capacity = new Gauge({ name: 'eo_capacity_reservations', help: 'Capacity queue: slots held and executions waiting for one', labelNames: ['state'], registers: [registry], collect: readBacklog });
  const outbox = new Gauge({ name: 'eo_outbox_events', help: 'Outbox events not published: pending (waiting for the relay) and dead (dead-lettered)', labelNames: ['state'], registers: [registry], collect: readBacklog });
  const outboxAge = new Gauge({ name: 'eo_outbox_oldest_pending_age_seconds', help: 'Age of the oldest event the relay has not published yet; 0 when none wait', registers: [registry], collect: readBacklog });

  new Gauge({ name: 'eo_api_event_streams', help: 'Event streams this process holds open (slots taken, from arrival until the connection closes)', registers: [registry], collect() { this.set(streams.slots.counts().open); } });
  new Gauge({ name: 'eo_api_event_stream_timers', help: 'Re-check and keep-alive timers of the open event streams', registers: [registry], collect() { this.set(streams.slots.counts().timers); } });
  new Gauge({ name: 'eo_api_event_feed_subscribers', help: 'Event streams of this process waiting on its change notifications (the execution feed)', registers: [registry], collect() { this.set(streams.feed.subscriberCount()); } });
  const abandoned = new Counter({ name: 'eo_api_event_streams_abandoned_in_setup_total', help: 'Event streams whose client left while the stream was set up (nothing was started for them)', registers: [registry] });

  return {
    registry,
    streamAbandonedInSetup: () => abandoned.inc(),
    timeRequests(req, res, next) {
      const end = requestDuration.startTimer({ method: req.method });
      res.once('close', () => end({ route: routeOf(req), status: String(res.statusCode) }));
      next();
    },
  };
}

/** The matched route template (`/api/v1/executions/:id`), so ids never become label values. */
function routeOf(req: Request): string {
  const path = (req.route as { path?: string } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}
