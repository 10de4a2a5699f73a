import { Router } from 'express';
import type { Response } from 'express';
import { isTerminal } from '../../domain/execution-status';
import type { Logger } from '../../observability/logger';
import { coerceError } from '../../observability/logger';
import type { Db } from '../../store/db';
import { executionExists, findExecution } from '../../store/executions';
import { progressOf } from '../../store/outbox';
import type { ExecutionFeed } from '../execution-feed';
import { executionView } from '../execution-view';
import { notFound } from '../problem';
import type { StreamSlots } from '../stream-slots';
import { ownerScopeOf, principalOf } from '../principal';
import { executionIdOf, headerValue, lastEventIdSchema, requestLog, withExecutionIdInLog } from '../request-parts';

export interface ExecutionStreamDeps {
  db: Db;
  feed: ExecutionFeed;
  log: Logger;
  /** Caps and counts the open streams (api/stream-slots.ts). */
  slots: StreamSlots;
  /** Called when a client left during set-up, before anything was started for it (counted by the metrics). */
  onSetupAbandoned?: () => void;
}

/** Safety net behind the feed's NOTIFY wake-ups (a change missed while its connection was down), ms. */
const RECHECK_MS = 5_000;
/** SSE comment sent while nothing happens, so proxies keep the connection open, ms. */
const KEEPALIVE_MS = 15_000;
/** Reconnect delay a stream closed by a stopping API asks of its client (SSE `retry:`), ms. */
const RECONNECT_MS = 1_000;

/**
 * `GET /executions/{id}/stream`: the execution's domain events as Server-Sent Events — `event:` the event
 * type, `id:` its per-execution sequence, `data:` the envelope, as Kafka carries it (read from the outbox,
 * so nothing waits for the relay) — then `event: end` with the execution and its result once it is in a
 * terminal state, cancel included, and the stream closes. `Last-Event-ID` resumes after that sequence. A stopping
 * API ends the stream with `event: reconnect` (and `retry:`) instead: the client resumes on another replica.
 * Streams are capped per key (429) and per process (503); a stream holds its slot, its feed subscription and
 * its two timers until its connection closes, whichever side closes it and at whatever point.
 */
export function executionStreamRoutes(deps: ExecutionStreamDeps): Router {
  const router = Router();
  router.param('id', withExecutionIdInLog);

  router.get('/executions/:id/stream', async (req, res) => {
    const id = executionIdOf(req);
    let sent = headerValue(req, 'Last-Event-ID', lastEventIdSchema, 0);
    const principal = principalOf(res);
    const log = requestLog(req, deps.log);
    // Everything the stream holds is let go in one place, whenever the connection closes — during set-up too
    // (the client may leave while the execution is read, before any timer exists: then none is started).
    const release = deps.slots.acquire(principal.keyId);
    let finished = false;
    const undo: Array<() => void> = [release];
    const finish = () => {
      if (finished) return;
      finished = true;
      for (const step of undo.splice(0)) step();
      if (res.headersSent && !res.writableEnded) res.end();
    };
    res.on('close', finish); // the response's, not the request's: that one may close once read
    // Gone before this handler ran (while its key or rate limit was checked): that close was already emitted.
    if (res.closed || res.destroyed || req.socket.destroyed) finish();
    const exists = await executionExists(deps.db, id, ownerScopeOf(principal));
    if (finished) {
      deps.onSetupAbandoned?.(); // counted, so that a test can tell this path was taken
      return; // the client left while the execution was read
    }
    if (!exists) throw notFound(`execution ${id}`);

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    let running: Promise<void> | null = null;
    let rerun = false;

    /** Writes the events after `sent`; ends the stream once the execution is terminal. Status and events are
     * read in one snapshot, and a terminal state commits with its terminal event: a terminal status comes with it. */
    const catchUp = async (): Promise<void> => {
      const progress = await progressOf(deps.db, id, sent);
      if (!progress) throw new Error(`execution ${id} is gone`); // removed by retention meanwhile
      for (const event of progress.events) {
        if (finished) return;
        writeEvent(res, event.eventType, JSON.stringify(event.envelope), event.sequence);
        sent = event.sequence;
      }
      if (!isTerminal(progress.status) || finished) return;
      const execution = await findExecution(deps.db, id);
      if (!execution) throw new Error(`execution ${id} is gone`);
      if (finished) return;
      writeEvent(res, 'end', JSON.stringify(executionView(execution)));
      finish();
    };
    // One catch-up at a time; a wake-up during one runs another after it.
    const wake = (): void => {
      if (finished) return;
      if (running) {
        rerun = true;
        return;
      }
      running = catchUp()
        .catch((err: unknown) => log.warn({ err: coerceError(err) }, 'event stream catch-up failed; the next wake-up retries'))
        .finally(() => {
          running = null;
          if (rerun) {
            rerun = false;
            wake();
          }
        });
    };

    // The API is stopping: tell the client to come back (EventSource does, after `retry`, with Last-Event-ID), then close.
    const handOff = () => {
      if (!finished) res.write(`retry: ${RECONNECT_MS}\nevent: reconnect\ndata: ${JSON.stringify({ reason: 'server stopping', retryMs: RECONNECT_MS })}\n\n`);
      finish();
    };
    undo.push(deps.feed.subscribe(id, { onChange: wake, onClose: handOff }));
    undo.push(deps.slots.timer(setInterval(wake, RECHECK_MS)));
    undo.push(deps.slots.timer(setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)));
    wake();
  });

  return router;
}

function writeEvent(res: Response, event: string, data: string, id?: number): void {
  res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`);
}
